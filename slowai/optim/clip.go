package optim

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// clipEps is added to the norm before dividing, as PyTorch's clip_grad_norm_ does, so that a zero
// gradient does not divide by zero.
const clipEps = 1e-6

// GlobalNorm is the L2 norm of all the gradients taken together, √(Σ over every element of every
// tensor of g²), as a scalar: float64 if the first gradient is float64, else float32.
func GlobalNorm(grads []*Node) *Node {
	if len(grads) == 0 {
		exceptions.Panicf("optim.GlobalNorm: no gradients")
	}
	dt := dtypes.Float32
	if grads[0] != nil && grads[0].DType() == dtypes.Float64 {
		dt = dtypes.Float64
	}
	var sum *Node
	for i, g := range grads {
		if g == nil {
			exceptions.Panicf("optim.GlobalNorm: gradient %d is nil", i)
		}
		if !g.DType().IsFloat() {
			exceptions.Panicf("optim.GlobalNorm: gradient %d has dtype %s, want a float", i, g.DType())
		}
		sq := ReduceAllSum(Square(ConvertDType(g, dt)))
		if sum == nil {
			sum = sq
		} else {
			sum = Add(sum, sq)
		}
	}
	return Sqrt(sum)
}

// ClipGradNorm scales all gradients by one factor so that their global L2 norm (GlobalNorm) is at
// most maxNorm, with PyTorch's clip_grad_norm_ semantics: factor = min(1, maxNorm/(norm + 1e-6)).
// Gradients whose joint norm is already below maxNorm come back unchanged (multiplied by 1).
func ClipGradNorm(grads []*Node, maxNorm float64) []*Node {
	if !(maxNorm > 0) || math.IsInf(maxNorm, 0) {
		exceptions.Panicf("optim.ClipGradNorm: maxNorm = %v, want a finite value > 0", maxNorm)
	}
	norm := GlobalNorm(grads)
	factor := MinScalar(Div(Scalar(norm.Graph(), norm.DType(), maxNorm), AddScalar(norm, clipEps)), 1.0)
	out := make([]*Node, len(grads))
	for i, g := range grads {
		out[i] = Mul(g, ConvertDType(factor, g.DType()))
	}
	return out
}
