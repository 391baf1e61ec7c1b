//go:build !solutions

// Package lesson11 holds lesson 11's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson11`.
package lesson11

import "github.com/slowai-go/course/slowai/exercises"

// BlockParams is the number of trainable parameters of the lesson's residual block from in to
// out channels: two bias-free 3x3 convolutions (in->out, out->out), two BatchNorms (a scale and
// a shift per channel), and, when in != out, a bias-free 1x1 convolution on the identity path.
func BlockParams(in, out int) int {
	exercises.Todo()
	return 0
}

// CeilHalf is the side of a feature map after the block's stride-2 convolution (3x3, padding 1)
// and after its 2x2 average pool in ceil mode: both give ceil(n/2). Return that size for n.
func CeilHalf(n int) int {
	exercises.Todo()
	return 0
}

// Residual adds the identity path to the block's output and applies ReLU, element by element:
// out[i] = max(0, main[i] + identity[i]).
func Residual(main, identity []float32) []float32 {
	exercises.Todo()
	return nil
}
