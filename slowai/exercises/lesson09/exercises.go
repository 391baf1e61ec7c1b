//go:build !solutions

// Package lesson09 holds lesson 09's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson09`.
package lesson09

import "github.com/slowai-go/course/slowai/exercises"

// GeneralReLU applies the lesson's activation to each value: x for x >= 0 and leak·x below, then
// minus sub, then (when maxv > 0) at most maxv. nn.GeneralReLU is the graph version.
func GeneralReLU(x []float64, leak, sub, maxv float64) []float64 {
	exercises.Todo()
	return nil
}

// KaimingStd is the standard deviation that keeps activations at unit scale through a layer with
// fanIn inputs followed by a leaky ReLU of slope leak: derive it from Var(y) = fanIn·Var(w)·E[x²]
// and the share of the second moment a leaky ReLU lets through.
func KaimingStd(fanIn int, leak float64) float64 {
	exercises.Todo()
	return 0
}

// BatchNormColumns normalises each column of x [n, c] (row-major) with its batch mean and biased
// variance: (x − mean)/√(var + eps). It returns the normalised values and, per column, the mean and
// the unbiased variance (n−1 in the denominator) that the running statistics move towards.
func BatchNormColumns(x []float64, n, c int, eps float64) (y, mean, unbiasedVar []float64) {
	exercises.Todo()
	return nil, nil, nil
}
