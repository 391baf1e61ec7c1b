//go:build !solutions

// Package lesson13 holds the exercises of lesson 13 (notebooks/13_ddpm.ipynb): write each
// function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson13
package lesson13

import "github.com/slowai-go/course/slowai/exercises"

// AlphaBars turns a variance schedule β₁…β_T into ᾱ_t = (1−β₁)(1−β₂)…(1−β_t), the fraction of
// the signal's variance left at each step.
func AlphaBars(betas []float64) []float64 {
	exercises.Todo()
	return nil
}

// QSample jumps straight to step t: √ᾱ_t·x0 + √(1−ᾱ_t)·eps, given abar = ᾱ_t.
func QSample(x0, eps []float32, abar float64) []float32 {
	exercises.Todo()
	return nil
}

// PredictX0 inverts QSample with the network's noise estimate: x̂₀ = (x_t − √(1−ᾱ_t)·eps)/√ᾱ_t.
func PredictX0(xt, eps []float32, abar float64) []float32 {
	exercises.Todo()
	return nil
}

// DDIMStep is the deterministic DDIM step (η = 0) from the predicted clean image and noise to the
// noise level abarPrev: √ᾱ_prev·x̂₀ + √(1−ᾱ_prev)·eps.
func DDIMStep(x0, eps []float32, abarPrev float64) []float32 {
	exercises.Todo()
	return nil
}

// LRAt is the learning rate at step s (1-based) of a run of steps steps: linear warm-up from 0
// to lr over warmup steps, then a cosine decay from lr to minFrac·lr at the last step, flat after.
func LRAt(s, steps, warmup int, lr, minFrac float64) float64 {
	exercises.Todo()
	return 0
}

// ConvParams counts the weights and biases of a k×k convolution from in to out channels;
// GroupNormParams those of a GroupNorm over c channels (a scale and a shift per channel). With
// them, count a ResBlock's parameters by hand (see TestCountByHand).
func ConvParams(in, out, k int) int {
	exercises.Todo()
	return 0
}

// GroupNormParams: see ConvParams.
func GroupNormParams(c int) int {
	exercises.Todo()
	return 0
}
