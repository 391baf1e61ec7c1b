//go:build !solutions

// Package lesson03 holds lesson 03's exercises: backward passes of pieces the lesson did not write.
// Replace each exercises.Todo() with your answer, then run `go test ./slowai/exercises/lesson03`.
package lesson03

import "github.com/slowai-go/course/slowai/exercises"

// SigmoidBackward returns dL/dx for y = σ(x) = 1/(1+e^(-x)), element by element, given dL/dy.
// Hint: σ'(x) = σ(x)·(1 - σ(x)).
func SigmoidBackward(x, gradY []float32) []float32 {
	exercises.Todo()
	return nil
}

// LeakyReLUBackward returns dL/dx for y = x where x > 0 and y = slope·x elsewhere, given dL/dy.
func LeakyReLUBackward(x, gradY []float32, slope float32) []float32 {
	exercises.Todo()
	return nil
}

// MAEBackward returns dL/dpred of the mean absolute error L = (1/n)·Σ |pred[i] - target[i]|
// (take the slope at pred == target to be 0).
func MAEBackward(pred, target []float32) []float32 {
	exercises.Todo()
	return nil
}
