//go:build !solutions

// Package lesson05 holds the exercises of lesson 05 (notebooks/05_convs.ipynb): write each
// function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson05
package lesson05

import "github.com/slowai-go/course/slowai/exercises"

// OutSize is the number of positions a window of k takes along an axis of n pixels padded with
// pad zeros on each side, moving stride pixels at a time.
func OutSize(n, k, stride, pad int) int {
	exercises.Todo()
	return 0
}

// ConvStride convolves a one-channel h×w image (row-major) with a k×k kernel, no padding,
// moving the kernel stride pixels at a time; the result is OutSize(h,k,stride,0) rows of
// OutSize(w,k,stride,0) values. Use loops, as in the lesson.
func ConvStride(img []float32, h, w int, kernel []float32, k, stride int) []float32 {
	exercises.Todo()
	return nil
}

// Sobel returns the two 3×3 Sobel kernels (row-major): gx grows with brightness to the right
// (like conv.LeftEdge, with the middle row weighted twice), gy grows with brightness
// downwards (its transpose).
func Sobel() (gx, gy []float32) {
	exercises.Todo()
	return nil, nil
}

// CNNParams counts the parameters (weights and biases) of a stack of k×k convolutions from
// chans[0] to chans[1] channels, chans[1] to chans[2], and so on. The lesson's CNN is
// CNNParams([]int{1, 4, 8, 16, 16, 10}, 3).
func CNNParams(chans []int, k int) int {
	exercises.Todo()
	return 0
}
