//go:build !solutions

// Package lesson12 holds lesson 12's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson12`.
package lesson12

import "github.com/slowai-go/course/slowai/exercises"

// ShiftImage is the random crop for one h×w image and one draw: pad with zeros, crop at an offset.
// Output pixel (r, c) is input pixel (r+dy, c+dx), or 0 where that falls outside the image.
func ShiftImage(img []float32, h, w, dy, dx int) []float32 {
	exercises.Todo()
	return nil
}

// Dropout applies dropout with probability p to x, given one uniform number u[i] in [0, 1) per
// value: x[i] is dropped (0) when u[i] < p, and otherwise kept and scaled by 1/(1-p).
func Dropout(x, u []float32, p float64) []float32 {
	exercises.Todo()
	return nil
}

// FlipTTA is test-time augmentation by flip for one h×w image: average the class probabilities
// probs returns for the image and for its left-right mirror, and return the class with the
// highest mean.
func FlipTTA(probs func(img []float32) []float64, img []float32, h, w int) int {
	exercises.Todo()
	return 0
}
