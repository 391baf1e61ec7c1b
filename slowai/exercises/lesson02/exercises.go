//go:build !solutions

// Package lesson02 holds lesson 02's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson02`.
package lesson02

import (
	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/tensor"
)

// KMeans clusters the rows of x (n×2) into len(init) groups. Start with the centroids at the
// points x[init[0]], x[init[1]], ...; then repeat iters times: assign every point to its
// nearest centroid, and move every centroid to the mean of its points (a centroid with no
// points stays where it is). Return the centroids (k×2) and each point's group.
func KMeans(x *tensor.Matrix, init []int, iters int) (*tensor.Matrix, []int) {
	exercises.Todo()
	return nil, nil
}

// DBSCAN labels the rows of x (n×2) by density: a point with at least minPts points (itself
// included) within distance eps is a core point; clusters are the core points connected
// through such neighbourhoods, plus the non-core points within eps of one of them. Label
// clusters 0, 1, 2, ... in the order their first point appears in x, and noise -1.
func DBSCAN(x *tensor.Matrix, eps float32, minPts int) []int {
	exercises.Todo()
	return nil
}
