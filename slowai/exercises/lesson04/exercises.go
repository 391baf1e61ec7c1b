//go:build !solutions

// Package lesson04 holds lesson 04's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson04`.
package lesson04

import "github.com/slowai-go/course/slowai/exercises"

// Softmax returns the probabilities exp(x_j) / Σ_k exp(x_k) of each row of logits [n, c]. It must
// stay finite for logits in the thousands: use the logsumexp trick (or minibatch.LogSoftmax).
func Softmax(logits []float32, c int) []float32 {
	exercises.Todo()
	return nil
}

// TopKAccuracy is the fraction of rows of logits [n, c] whose label is among the row's k largest
// entries (k = 1 is the lesson's accuracy). Ties: a label counts if fewer than k entries beat it.
func TopKAccuracy(logits []float32, labels []int, c, k int) float64 {
	exercises.Todo()
	return 0
}

// BatchesDropLast cuts idx into consecutive batches of size bs like minibatch.Batches, but drops
// the last batch when it is smaller than bs (PyTorch's drop_last=True), so every step sees bs examples.
func BatchesDropLast(idx []int, bs int) [][]int {
	exercises.Todo()
	return nil
}
