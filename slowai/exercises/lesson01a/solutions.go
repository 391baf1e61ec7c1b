//go:build solutions

package lesson01a

import "math"

func Guide(uncond, cond []float32, g float64) []float32 {
	out := make([]float32, len(cond))
	for i := range cond {
		out[i] = float32(float64(uncond[i]) + g*float64(cond[i]-uncond[i]))
	}
	return out
}

func StepsRun(n int, s float64) int { return min(int(float64(n)*s), n) }

func NoiseSigma(x0, eps []float32, sigma float64) []float32 {
	out := make([]float32, len(x0))
	for i := range x0 {
		out[i] = float32(float64(x0[i]) + sigma*float64(eps[i]))
	}
	return out
}

func NoiseAlphaBar(x0, eps []float32, abar float64) []float32 {
	a, b := math.Sqrt(abar), math.Sqrt(1-abar)
	out := make([]float32, len(x0))
	for i := range x0 {
		out[i] = float32(a*float64(x0[i]) + b*float64(eps[i]))
	}
	return out
}

func SigmaOf(abar float64) float64 { return math.Sqrt((1 - abar) / abar) }
