//go:build !solutions

// Package lesson00 holds the exercises of lesson 00 (notebooks/00_overview.ipynb): write each
// function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson00
//
// Answered exercises pass or fail; the others are skipped.
package lesson00

import "github.com/slowai-go/course/slowai/exercises"

// AddNoise returns x + sigma·eps, the walk away from the data: a new slice, x unchanged.
func AddNoise(x, eps []float32, sigma float64) []float32 {
	exercises.Todo()
	return nil
}

// AscentStep is one step of the climb: x + c·(grad − lambda·x), each pixel clamped to [0, 1].
// grad is ∇ₓ log p(k | x); lambda = 0 is the first ascent, lambda > 0 adds the "dark pixels"
// prior log p(x) = −λ/2·‖x‖².
func AscentStep(x, grad []float32, c, lambda float64) []float32 {
	exercises.Todo()
	return nil
}

// CentralDifference estimates ∂f/∂xᵢ at x as (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h, the check that an
// autodiff gradient is right. x must be unchanged when it returns.
func CentralDifference(f func([]float32) float64, x []float32, i int, h float64) float64 {
	exercises.Todo()
	return 0
}

// Similarity is CLIP's score matrix: S[i][j] is the cosine similarity of image encoding img[i]
// and caption encoding txt[j] (dot product of the two vectors after scaling each to length 1).
func Similarity(img, txt [][]float64) [][]float64 {
	exercises.Todo()
	return nil
}

// ContrastiveLoss is CLIP's training loss for a batch whose i-th image goes with the i-th caption:
// the logits are S/temperature; the loss is the mean of the cross-entropy of each row (which
// caption matches this image?) and of each column (which image matches this caption?), each with
// the diagonal as the right answer.
func ContrastiveLoss(img, txt [][]float64, temperature float64) float64 {
	exercises.Todo()
	return 0
}
