package optim

import (
	"fmt"
	"math"
)

// Schedule gives a hyper-parameter's value for a step; step is 1-based (the step being taken), and
// a schedule knows the total number of steps from its construction. Past the end it stays at its
// last value; before step 1 at its first.
type Schedule func(step int) float64

// Values samples s at steps 1..total, for plots.
func Values(s Schedule, total int) []float64 {
	out := make([]float64, max(0, total))
	for i := range out {
		out[i] = s(i + 1)
	}
	return out
}

// Constant is v at every step.
func Constant(v float64) Schedule { return func(int) float64 { return v } }

// progress is where step lies in a run of total steps, from 0 at step 1 to 1 at step total,
// clamped to [0, 1].
func progress(step, total int) float64 {
	if total <= 1 {
		if step <= 1 {
			return 0
		}
		return 1
	}
	return math.Min(1, math.Max(0, float64(step-1)/float64(total-1)))
}

// lerp goes linearly from a (pos 0) to b (pos 1).
func lerp(a, b, pos float64) float64 { return a + (b-a)*pos }

// cosAnneal goes from a (pos 0) to b (pos 1) along half a cosine: flat at both ends, fastest in the
// middle.
func cosAnneal(a, b, pos float64) float64 { return b + (a-b)*(1+math.Cos(math.Pi*pos))/2 }

func checkTotal(name string, total int) {
	if total < 1 {
		panic(fmt.Sprintf("optim.%s: total = %d steps, want >= 1", name, total))
	}
}

// Linear goes in a straight line from start at step 1 to end at step total. It panics if total < 1.
func Linear(start, end float64, total int) Schedule {
	checkTotal("Linear", total)
	return func(step int) float64 { return lerp(start, end, progress(step, total)) }
}

// Cosine goes from start at step 1 to end at step total along half a cosine. It panics if total < 1.
func Cosine(start, end float64, total int) Schedule {
	checkTotal("Cosine", total)
	return func(step int) float64 { return cosAnneal(start, end, progress(step, total)) }
}

// Warmup rises linearly over the first steps steps, peak·step/steps (so step 1 already moves and
// step steps is at peak), then follows then shifted by steps: step steps+k is then(k).
// It panics if steps < 0 or then is nil.
func Warmup(steps int, peak float64, then Schedule) Schedule {
	if steps < 0 || then == nil {
		panic(fmt.Sprintf("optim.Warmup: want steps >= 0 and a schedule to follow, got steps = %d, then nil: %v", steps, then == nil))
	}
	return func(step int) float64 {
		if steps > 0 && step <= steps {
			return peak * float64(step) / float64(steps)
		}
		return then(step - steps)
	}
}

// CosineWarmup is the learning rate slowai/ddpm trains with: linear warm-up to peak over warmup
// steps (peak·step/warmup), then a cosine decay that reaches minFrac·peak at step total and stays
// there. The cosine's position at step s is (s−warmup)/(total−warmup), so its first step is already
// one step into the decay. It panics if warmup < 0 or total < 1.
func CosineWarmup(peak, minFrac float64, warmup, total int) Schedule {
	if warmup < 0 || total < 1 {
		panic(fmt.Sprintf("optim.CosineWarmup: want warmup >= 0 and total >= 1 steps, got warmup = %d, total = %d", warmup, total))
	}
	return func(step int) float64 {
		if warmup > 0 && step <= warmup {
			return peak * float64(step) / float64(warmup)
		}
		pos := math.Min(1, float64(step-warmup)/float64(max(1, total-warmup)))
		return peak * (minFrac + (1-minFrac)*(1+math.Cos(math.Pi*pos))/2)
	}
}

// OneCycleOpts shape OneCycle; zero fields take fast.ai's defaults.
type OneCycleOpts struct {
	PctStart float64    // fraction of the run spent rising to the peak (0.25)
	DivStart float64    // the learning rate starts at maxLR/DivStart (25)
	DivFinal float64    // and ends at maxLR/DivFinal (1e5)
	Moms     [3]float64 // momentum at the start, at the peak and at the end ({0.95, 0.85, 0.95}; all zero for the default)
}

func (o OneCycleOpts) withDefaults() OneCycleOpts {
	if o.PctStart == 0 {
		o.PctStart = 0.25
	}
	if o.DivStart == 0 {
		o.DivStart = 25
	}
	if o.DivFinal == 0 {
		o.DivFinal = 1e5
	}
	if o.Moms == [3]float64{} {
		o.Moms = [3]float64{0.95, 0.85, 0.95}
	}
	return o
}

// OneCycle is fast.ai's one-cycle policy over total steps. The learning rate rises from
// maxLR/DivStart at step 1 to maxLR at the fraction PctStart of the run (step 1 + PctStart·(total−1)),
// then falls to maxLR/DivFinal at step total, both along half a cosine. Momentum is the mirror image:
// high while the learning rate is low, low at its peak (Moms[0] → Moms[1] → Moms[2]). A small
// learning rate first lets the weights settle from their random start, the high middle explores, and
// the long fall fine-tunes; lowering momentum while lr is high keeps the steps from overshooting.
// It panics if total < 1, PctStart is not in [0, 1) or a divisor is not > 0.
func OneCycle(maxLR float64, total int, o OneCycleOpts) (lr, mom Schedule) {
	checkTotal("OneCycle", total)
	o = o.withDefaults()
	if !(o.PctStart >= 0 && o.PctStart < 1) || !(o.DivStart > 0) || !(o.DivFinal > 0) {
		panic(fmt.Sprintf("optim.OneCycle: want PctStart in [0, 1) and DivStart, DivFinal > 0, got %+v", o))
	}
	pct := o.PctStart
	phase := func(step int, start, peak, end float64) float64 {
		pos := progress(step, total)
		if pos < pct {
			return cosAnneal(start, peak, pos/pct)
		}
		return cosAnneal(peak, end, (pos-pct)/(1-pct))
	}
	lr = func(step int) float64 { return phase(step, maxLR/o.DivStart, maxLR, maxLR/o.DivFinal) }
	mom = func(step int) float64 { return phase(step, o.Moms[0], o.Moms[1], o.Moms[2]) }
	return lr, mom
}
