//go:build solutions

package lesson13

import "math"

func AlphaBars(betas []float64) []float64 {
	out := make([]float64, len(betas))
	p := 1.0
	for i, b := range betas {
		p *= 1 - b
		out[i] = p
	}
	return out
}

func QSample(x0, eps []float32, abar float64) []float32 {
	a, b := math.Sqrt(abar), math.Sqrt(1-abar)
	out := make([]float32, len(x0))
	for i := range x0 {
		out[i] = float32(a*float64(x0[i]) + b*float64(eps[i]))
	}
	return out
}

func PredictX0(xt, eps []float32, abar float64) []float32 {
	a, b := math.Sqrt(abar), math.Sqrt(1-abar)
	out := make([]float32, len(xt))
	for i := range xt {
		out[i] = float32((float64(xt[i]) - b*float64(eps[i])) / a)
	}
	return out
}

func DDIMStep(x0, eps []float32, abarPrev float64) []float32 { return QSample(x0, eps, abarPrev) }

func LRAt(s, steps, warmup int, lr, minFrac float64) float64 {
	if s <= warmup {
		return lr * float64(s) / float64(warmup)
	}
	frac := math.Min(1, float64(s-warmup)/float64(max(1, steps-warmup)))
	return lr * (minFrac + (1-minFrac)*0.5*(1+math.Cos(math.Pi*frac)))
}

func ConvParams(in, out, k int) int { return out*in*k*k + out }

func GroupNormParams(c int) int { return 2 * c }
