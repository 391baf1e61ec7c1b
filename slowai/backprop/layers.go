package backprop

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Layer is one step of a network that can run forwards and backwards. Forward remembers what its
// backward pass will need (its input); Backward takes dL/d(output) and returns dL/d(input), and
// sets the gradients of the layer's own parameters (it does not add to them).
type Layer interface {
	Forward(x []float32) []float32
	Backward(gradY []float32) []float32
}

// Linear is y = x·W + b with W [In, Out] and b [Out], holding its parameters and their gradients.
type Linear struct {
	In, Out      int
	W, B         []float32
	GradW, GradB []float32
	x            []float32 // the input of the last Forward
}

// NewLinear makes a Linear layer with W drawn from N(0, 2/in) and b = 0: the scale keeps the
// variance of the activations about the same from layer to layer after a ReLU (lesson 09 shows why).
func NewLinear(in, out int, rng *rand.Rand) *Linear {
	l := &Linear{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
	std := math.Sqrt(2 / float64(in))
	for i := range l.W {
		l.W[i] = float32(rng.NormFloat64() * std)
	}
	return l
}

// Forward remembers x for Backward and returns x·W + b.
func (l *Linear) Forward(x []float32) []float32 {
	l.x = x
	return LinearForward(x, l.W, l.B, l.In, l.Out)
}

// Backward stores dL/dW and dL/db and returns dL/dx.
func (l *Linear) Backward(gradY []float32) []float32 {
	gradX, gradW, gradB := LinearBackward(l.x, l.W, gradY, l.In, l.Out)
	l.GradW, l.GradB = gradW, gradB
	return gradX
}

// ReLU is max(x, 0); it has no parameters, only the input it remembers for Backward.
type ReLU struct {
	x []float32
}

// Forward remembers x for Backward and returns max(x, 0).
func (r *ReLU) Forward(x []float32) []float32 {
	r.x = x
	return ReLUForward(x)
}

// Backward returns dL/dx: dL/dy where x was positive, 0 elsewhere.
func (r *ReLU) Backward(gradY []float32) []float32 {
	return ReLUBackward(r.x, gradY)
}

// MSE is the mean squared error loss. It is not a Layer: it takes two inputs and returns a number,
// and its Backward starts the backward pass, so it needs no incoming gradient.
type MSE struct {
	pred, target []float32
}

// Forward remembers its inputs for Backward and returns the mean squared error.
func (m *MSE) Forward(pred, target []float32) float32 {
	m.pred, m.target = pred, target
	return MSEForward(pred, target)
}

// Backward returns dL/dpred, where the backward pass starts.
func (m *MSE) Backward() []float32 {
	return MSEBackward(m.pred, m.target)
}

// MLP is a stack of layers run in order forwards and in reverse order backwards.
type MLP struct {
	Layers []Layer
}

// NewMLP makes Linear layers of the given sizes with a ReLU between each two:
// NewMLP(rng, 784, 50, 1) is 784 -> 50 -> ReLU -> 1.
func NewMLP(rng *rand.Rand, sizes ...int) *MLP {
	if len(sizes) < 2 {
		panic(fmt.Sprintf("backprop.NewMLP: sizes %v, want at least an input and an output size", sizes))
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		if i > 0 {
			m.Layers = append(m.Layers, &ReLU{})
		}
		m.Layers = append(m.Layers, NewLinear(sizes[i], sizes[i+1], rng))
	}
	return m
}

// Forward runs every layer in order.
func (m *MLP) Forward(x []float32) []float32 {
	for _, l := range m.Layers {
		x = l.Forward(x)
	}
	return x
}

// Backward runs every layer's Backward in reverse order, passing each the gradient of its output,
// and returns dL/d(input).
func (m *MLP) Backward(gradY []float32) []float32 {
	for i := len(m.Layers) - 1; i >= 0; i-- {
		gradY = m.Layers[i].Backward(gradY)
	}
	return gradY
}

// Param is one parameter array with its gradient and shape, as a view into its layer.
type Param struct {
	Name        string
	Value, Grad []float32
	Dims        []int
}

// Params lists the MLP's parameters in order (layer 0's W and b, then the next Linear's, ...), named
// "0.W", "0.b", "2.W", ... by layer index. Call it after Backward: each Backward makes new gradients.
func (m *MLP) Params() []Param {
	var ps []Param
	for i, l := range m.Layers {
		if lin, ok := l.(*Linear); ok {
			ps = append(ps,
				Param{fmt.Sprintf("%d.W", i), lin.W, lin.GradW, []int{lin.In, lin.Out}},
				Param{fmt.Sprintf("%d.b", i), lin.B, lin.GradB, []int{lin.Out}})
		}
	}
	return ps
}
