package backprop

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
)

// TestLinearClosedForm checks the forward and backward pass of one Linear layer on numbers worked out
// by hand: x = [[1 2] [3 0]], W = [[1 -1 0] [2 0 1]], b = [0.5 0 -1].
func TestLinearClosedForm(t *testing.T) {
	x := []float32{1, 2, 3, 0}
	w := []float32{1, -1, 0, 2, 0, 1}
	b := []float32{0.5, 0, -1}
	y := LinearForward(x, w, b, 2, 3)
	want := []float32{5.5, -1, 1, 3.5, -3, -1}
	if d := MaxAbsDiff(y, want); d != 0 {
		t.Fatalf("LinearForward = %v, want %v", y, want)
	}
	gy := []float32{1, 0, 2, 0, -1, 1} // dL/dy
	gx, gw, gb := LinearBackward(x, w, gy, 2, 3)
	for _, c := range []struct {
		name      string
		got, want []float32
	}{
		{"dL/dx = dL/dy·Wᵀ", gx, []float32{1, 4, 1, 1}},
		{"dL/dW = xᵀ·dL/dy", gw, []float32{1, -3, 5, 2, 0, 4}},
		{"dL/db = Σ rows of dL/dy", gb, []float32{1, -1, 3}},
	} {
		if MaxAbsDiff(c.got, c.want) != 0 {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestReLUAndMSE checks the two small pieces against their definitions.
func TestReLUAndMSE(t *testing.T) {
	x := []float32{-2, 0, 3}
	if y := ReLUForward(x); MaxAbsDiff(y, []float32{0, 0, 3}) != 0 {
		t.Errorf("ReLUForward(%v) = %v", x, y)
	}
	if g := ReLUBackward(x, []float32{5, 6, 7}); MaxAbsDiff(g, []float32{0, 0, 7}) != 0 {
		t.Errorf("ReLUBackward = %v, want [0 0 7]", g)
	}
	pred, target := []float32{1, 2, 4}, []float32{0, 2, 1}
	if l := MSEForward(pred, target); math.Abs(float64(l)-10.0/3) > 1e-6 {
		t.Errorf("MSEForward = %v, want 10/3", l)
	}
	if g := MSEBackward(pred, target); MaxAbsDiff(g, []float32{2.0 / 3, 0, 2}) > 1e-7 {
		t.Errorf("MSEBackward = %v, want [2/3 0 2]", g)
	}
}

// TestBadSizesPanicClearly: a wrong-sized argument names the function and the argument.
func TestBadSizesPanicClearly(t *testing.T) {
	defer func() {
		r := recover()
		if r != "backprop.MatMul: a has 5 values, want 6" {
			t.Fatalf("panic = %v", r)
		}
	}()
	MatMul(make([]float32, 5), make([]float32, 6), 2, 3, 2)
}

// loss64 is an independent float64 forward pass of m (Linear and ReLU layers) with the MSE loss.
func loss64(m *MLP, x, target []float32) float64 {
	h := make([]float64, len(x))
	for i, v := range x {
		h[i] = float64(v)
	}
	for _, l := range m.Layers {
		switch l := l.(type) {
		case *Linear:
			n := len(h) / l.In
			y := make([]float64, n*l.Out)
			for i := range n {
				for j := range l.Out {
					s := float64(l.B[j])
					for p := range l.In {
						s += h[i*l.In+p] * float64(l.W[p*l.Out+j])
					}
					y[i*l.Out+j] = s
				}
			}
			h = y
		case *ReLU:
			for i := range h {
				h[i] = math.Max(h[i], 0)
			}
		}
	}
	s := 0.0
	for i, p := range h {
		d := p - float64(target[i])
		s += d * d
	}
	return s / float64(len(h))
}

// handGrads runs the hand-written forward and backward pass and returns the loss.
func handGrads(m *MLP, x, target []float32) float32 {
	var mse MSE
	loss := mse.Forward(m.Forward(x), target)
	m.Backward(mse.Backward())
	return loss
}

// TestFiniteDifferences checks every gradient of a small two-hidden-layer MLP against central
// differences of a float64 loss, element by element. The step is small (1e-5) because the loss has a
// kink wherever a ReLU's input crosses 0, and a larger step straddles some of them (with 1e-3, one of
// the 28 hidden inputs here, -0.00017, does).
func TestFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewMLP(rng, 5, 4, 3, 1)
	for _, p := range m.Params() { // non-zero biases, so their gradients are exercised at a generic point
		for i := range p.Value {
			p.Value[i] += float32(0.1 * rng.NormFloat64())
		}
	}
	const n = 7
	x, target := make([]float32, n*5), make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range target {
		target[i] = float32(rng.IntN(10))
	}
	handGrads(m, x, target)
	loss := func() (float64, error) { return loss64(m, x, target), nil }
	for _, p := range m.Params() {
		for i := range p.Value {
			fd, _ := FiniteDiff(loss, p.Value, i, 1e-5)
			if d := math.Abs(fd - float64(p.Grad[i])); d > 1e-4*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: hand-written %.6g, finite difference %.6g", p.Name, i, p.Grad[i], fd)
			}
		}
	}
}

// mnistBatch returns the first n training images and their digits as float targets.
func mnistBatch(t *testing.T, n int) (x, target []float32) {
	t.Helper()
	ds, err := data.MNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	ds = ds.Subset(n)
	target = make([]float32, n)
	for i, l := range ds.Labels {
		target[i] = float32(l)
	}
	return ds.Images, target
}

// TestAgainstAutodiff is lesson 03's check: the 784-50-1 MLP's hand-written gradients on real MNIST
// images agree with GoMLX's automatic differentiation to 1e-4, and a few of them with finite
// differences of the engine's float64 loss.
func TestAgainstAutodiff(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	x, target := mnistBatch(t, 1000)
	m := NewMLP(rand.New(rand.NewPCG(3, 4)), 784, 50, 1)
	loss := handGrads(m, x, target)
	ad, err := NewAutodiff(be, m, x, target)
	if err != nil {
		t.Fatal(err)
	}
	adLoss, adGrads, err := ad.Gradients()
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(float64(loss - adLoss)); d > 1e-4*float64(loss) {
		t.Errorf("loss: hand-written %g, engine %g", loss, adLoss)
	}
	l64, err := ad.Loss64()
	if err != nil {
		t.Fatal(err)
	}
	if ref := loss64(m, x, target); math.Abs(l64-ref) > 1e-9*ref {
		t.Errorf("engine float64 loss %.12g, reference %.12g", l64, ref)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for k, p := range m.Params() {
		if d := MaxAbsDiff(p.Grad, adGrads[k]); d > 1e-4 {
			t.Errorf("%s: max |hand-written - autodiff| = %.3g, want <= 1e-4", p.Name, d)
		}
		for range 3 {
			i := rng.IntN(len(p.Value))
			if p.Name == "0.W" { // a weight whose pixel is lit in some image, so its gradient is not 0
				for i = rng.IntN(len(p.Value)); p.Grad[i] == 0; i = rng.IntN(len(p.Value)) {
				}
			}
			fd, err := FiniteDiff(ad.Loss64, p.Value, i, 1e-5)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(fd - float64(p.Grad[i])); d > 1e-4*math.Max(1e-2, math.Abs(fd)) {
				t.Errorf("%s[%d]: hand-written %.6g, finite difference %.6g", p.Name, i, p.Grad[i], fd)
			}
		}
	}
}

// TestAutodiffRejectsBadInput: a multi-output MLP or mismatched data gets an error, not a panic.
func TestAutodiffRejectsBadInput(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := NewAutodiff(be, NewMLP(rng, 4, 3, 2), make([]float32, 8), make([]float32, 2)); err == nil {
		t.Error("an MLP with 2 outputs was accepted")
	}
	if _, err := NewAutodiff(be, NewMLP(rng, 4, 3, 1), make([]float32, 8), make([]float32, 3)); err == nil {
		t.Error("8 inputs of size 4 with 3 targets were accepted")
	}
}
