package optim

import (
	"math"
	"slices"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// EMAUpdate is one step of an exponential moving average of a weight: ema·decay + (1−decay)·p,
// in ema's dtype (decay is a scalar node, e.g. fed from EMADecay each step). Pass the weight after
// the step's update.
func EMAUpdate(ema, p, decay *Node) *Node {
	if ema == nil || p == nil || decay == nil {
		exceptions.Panicf("optim.EMAUpdate: ema, p and decay must all be set")
	}
	if !slices.Equal(ema.Shape().Dimensions, p.Shape().Dimensions) {
		exceptions.Panicf("optim.EMAUpdate: ema shape %s differs from weight shape %s", ema.Shape(), p.Shape())
	}
	d := ConvertDType(decay, ema.DType())
	return Add(Mul(ema, d), Mul(OneMinus(d), ConvertDType(p, ema.DType())))
}

// EMADecay is the decay to use at step (1-based): min(max, (1+step)/(10+step)). The warm-up keeps the
// average from dragging the random initial weights along: 0.18 at step 1, 0.5 at step 8, reaching
// max = 0.999 only after about 9000 steps.
func EMADecay(step int, max float64) float64 {
	return math.Min(max, float64(1+step)/float64(10+step))
}
