//go:build !solutions

// Package lesson01a holds the exercises of lesson 01a (notebooks/01a_negative_prompts.ipynb):
// write each function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson01a
package lesson01a

import "github.com/slowai-go/course/slowai/exercises"

// Guide is classifier-free guidance: uncond + g·(cond − uncond). With a negative prompt, uncond is
// the prediction for the negative prompt instead of the empty one; the formula does not change.
func Guide(uncond, cond []float32, g float64) []float32 {
	exercises.Todo()
	return nil
}

// StepsRun is how many of n sampling steps img2img runs at strength s in [0, 1]: ⌊n·s⌋, at most n.
func StepsRun(n int, s float64) int {
	exercises.Todo()
	return 0
}

// NoiseSigma noises clean latents the LMS way: x0 + sigma·eps.
func NoiseSigma(x0, eps []float32, sigma float64) []float32 {
	exercises.Todo()
	return nil
}

// NoiseAlphaBar noises clean latents the DDPM/DDIM way: √ᾱ·x0 + √(1−ᾱ)·eps.
func NoiseAlphaBar(x0, eps []float32, abar float64) []float32 {
	exercises.Todo()
	return nil
}

// SigmaOf is the σ that makes the two ways agree: NoiseAlphaBar(x0, eps, ᾱ) divided by √ᾱ equals
// NoiseSigma(x0, eps, SigmaOf(ᾱ)). (Exercise 3 of the notebook.)
func SigmaOf(abar float64) float64 {
	exercises.Todo()
	return 0
}
