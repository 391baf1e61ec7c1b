//go:build !solutions

// Package lesson08 holds the exercises of lesson 08 (notebooks/08_activations.ipynb): write each
// function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson08
package lesson08

import "github.com/slowai-go/course/slowai/exercises"

// AbsHistogram counts |x| of the values xs in bins equal bins over [0, max): bin k holds
// k*max/bins <= |x| < (k+1)*max/bins, and values with |x| >= max go in the last bin. It is the
// histogram learn.ActivationStats computes inside the training step, done on the host.
func AbsHistogram(xs []float32, bins int, max float64) []float64 {
	exercises.Todo()
	return nil
}

// NearZeroFraction is the fraction of a histogram's counts (bins of width binWidth starting
// at 0) that lie in bins whose upper edge is at most threshold; 0 for an empty histogram.
// With binWidth learn.HistMax/learn.HistBins and threshold 0.5 it is LayerStats.NearZero.
func NearZeroFraction(hist []float64, binWidth, threshold float64) float64 {
	exercises.Todo()
	return 0
}

// Dead is the fraction of units that are exactly zero for every example: acts holds a layer's
// activations for a batch, one row of units per example (all rows of equal length). After a
// ReLU such a unit passes no signal and gets no gradient.
func Dead(acts [][]float32) float64 {
	exercises.Todo()
	return 0
}
