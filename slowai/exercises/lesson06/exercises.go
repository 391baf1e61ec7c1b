//go:build !solutions

// Package lesson06 holds the exercises of lesson 06 (notebooks/06_autoencoders.ipynb): write
// each function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson06
package lesson06

import "github.com/slowai-go/course/slowai/exercises"

// BottleneckSize is how many numbers an encoder leaves of a chans[0]×h×w image when it applies
// 3×3 convolutions with stride 2 and padding 1, from chans[0] to chans[1] channels, chans[1]
// to chans[2], and so on. The lesson's encoder is BottleneckSize(32, 32, []int{1, 2, 4}).
func BottleneckSize(h, w int, chans []int) int {
	exercises.Todo()
	return 0
}

// UpsampleNearest enlarges a one-channel h×w image by a whole factor f: every pixel becomes an
// f×f block of its value (what nn.UpsampleNearest2D does to each channel).
func UpsampleNearest(img []float32, h, w, f int) []float32 {
	exercises.Todo()
	return nil
}

// MeanImageMSE is the error of the laziest "autoencoder": ignore the input and always answer
// the average training image. It returns the mean squared difference, over every pixel of
// every test image, between the test images and the pixel-wise mean of the training images
// (all images the same size). Compare it with the lesson's trained autoencoder.
func MeanImageMSE(train, test [][]float32) float64 {
	exercises.Todo()
	return 0
}
