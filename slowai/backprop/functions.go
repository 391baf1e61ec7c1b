// Package backprop is lesson 03's neural network written by hand: a multi-layer perceptron on plain
// float32 slices, its forward pass, and the backward pass that the chain rule gives, first as functions
// and then as layer types with Forward and Backward. Nothing here uses the engine's automatic
// differentiation except Autodiff, which exists to check the hand-written gradients against it.
//
// Every matrix is a row-major []float32 with its sizes passed alongside: x [n, in] holds n examples of in
// features, and a Linear layer's W is [in, out], so that y = x·W + b.
package backprop

import (
	"fmt"
	"math"
)

// checkLen panics with a message naming the function and argument when a slice has the wrong size:
// a mismatch here is a bug in the caller, like an index out of range.
func checkLen(fn, arg string, s []float32, want int) {
	if len(s) != want {
		panic(fmt.Sprintf("backprop.%s: %s has %d values, want %d", fn, arg, len(s), want))
	}
}

// MatMul returns a·b for a [n, k] and b [k, m]: out[i, j] = Σ_p a[i, p]·b[p, j].
// The loops run i, p, j so the innermost one walks a row of b and a row of out in memory order, and
// a zero a[i, p] (most MNIST pixels, half of the ReLU outputs) skips its whole row of work.
func MatMul(a, b []float32, n, k, m int) []float32 {
	checkLen("MatMul", "a", a, n*k)
	checkLen("MatMul", "b", b, k*m)
	out := make([]float32, n*m)
	for i := range n {
		row := out[i*m : (i+1)*m]
		for p, av := range a[i*k : (i+1)*k] {
			if av == 0 {
				continue
			}
			for j, bv := range b[p*m : (p+1)*m] {
				row[j] += av * bv
			}
		}
	}
	return out
}

// LinearForward is a linear layer: y = x·W + b for x [n, in], W [in, out], b [out]; y is [n, out].
func LinearForward(x, w, b []float32, in, out int) []float32 {
	checkLen("LinearForward", "b", b, out)
	n := len(x) / in
	y := MatMul(x, w, n, in, out)
	for i := range n {
		for j, bj := range b {
			y[i*out+j] += bj
		}
	}
	return y
}

// LinearBackward takes dL/dy of y = x·W + b and returns the gradients of L with respect to the layer's
// input and parameters (the chain rule, one output at a time):
//
//	dL/dx = dL/dy · Wᵀ        (x[i, p] reaches every y[i, j] through W[p, j])
//	dL/dW = xᵀ · dL/dy        (W[p, j] is multiplied by x[i, p] in every example i)
//	dL/db = Σ_i dL/dy[i, :]   (b[j] is added to y[i, j] in every example i)
func LinearBackward(x, w, gradY []float32, in, out int) (gradX, gradW, gradB []float32) {
	n := len(x) / in
	checkLen("LinearBackward", "x", x, n*in)
	checkLen("LinearBackward", "w", w, in*out)
	checkLen("LinearBackward", "gradY", gradY, n*out)
	gradX = make([]float32, n*in)
	gradW = make([]float32, in*out)
	gradB = make([]float32, out)
	for i := range n {
		g := gradY[i*out : (i+1)*out]
		for j, gj := range g {
			gradB[j] += gj
		}
		for p, xp := range x[i*in : (i+1)*in] {
			wRow := w[p*out : (p+1)*out]
			var s float32
			for j, gj := range g {
				s += gj * wRow[j]
			}
			gradX[i*in+p] = s
			if xp == 0 {
				continue
			}
			gwRow := gradW[p*out : (p+1)*out]
			for j, gj := range g {
				gwRow[j] += xp * gj
			}
		}
	}
	return gradX, gradW, gradB
}

// ReLUForward is max(x, 0), element by element.
func ReLUForward(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = max(v, 0)
	}
	return y
}

// ReLUBackward passes dL/dy through where the input was positive and stops it elsewhere: the slope of
// max(x, 0) is 1 for x > 0 and 0 for x < 0 (at exactly 0 we pick 0, as PyTorch does).
func ReLUBackward(x, gradY []float32) []float32 {
	checkLen("ReLUBackward", "gradY", gradY, len(x))
	gradX := make([]float32, len(x))
	for i, v := range x {
		if v > 0 {
			gradX[i] = gradY[i]
		}
	}
	return gradX
}

// MSEForward is the mean squared error (1/n)·Σ (pred[i] - target[i])². The sum is kept in float64:
// tens of thousands of float32 additions would otherwise lose the last digits.
func MSEForward(pred, target []float32) float32 {
	checkLen("MSEForward", "target", target, len(pred))
	var s float64
	for i, p := range pred {
		d := float64(p - target[i])
		s += d * d
	}
	return float32(s / float64(len(pred)))
}

// MSEBackward is dL/dpred of the mean squared error: 2·(pred[i] - target[i]) / n.
func MSEBackward(pred, target []float32) []float32 {
	checkLen("MSEBackward", "target", target, len(pred))
	g := make([]float32, len(pred))
	scale := 2 / float32(len(pred))
	for i, p := range pred {
		g[i] = scale * (p - target[i])
	}
	return g
}

// MaxAbsDiff is max_i |a[i] - b[i]|, how far two gradients are apart.
func MaxAbsDiff(a, b []float32) float64 {
	checkLen("MaxAbsDiff", "b", b, len(a))
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > worst || math.IsNaN(d) {
			worst = d
		}
	}
	return worst
}
