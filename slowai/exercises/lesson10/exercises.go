//go:build !solutions

// Package lesson10 holds lesson 10's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson10`.
package lesson10

import "github.com/slowai-go/course/slowai/exercises"

// EMA returns the debiased exponential moving average of xs: avg_t = β·avg_{t−1} + (1−β)·x_t from
// avg_0 = 0, reported as avg_t/(1−β^t) so that the early values are not pulled towards zero.
func EMA(xs []float64, beta float64) []float64 {
	exercises.Todo()
	return nil
}

// AdamStep takes one Adam step (no weight decay) for a single parameter p with gradient g, moving
// averages m and v, at step t (1-based), and returns the new p, m and v.
func AdamStep(p, g, m, v float64, t int, lr, beta1, beta2, eps float64) (newP, newM, newV float64) {
	exercises.Todo()
	return 0, 0, 0
}

// OneCycleLR is a one-cycle learning rate at position pos in [0, 1] of the run: from maxLR/25 up
// to maxLR at pos = 0.25 and down to maxLR/1e5 at pos = 1, each half along half a cosine (flat at
// both ends).
func OneCycleLR(maxLR, pos float64) float64 {
	exercises.Todo()
	return 0
}
