package cluster

import (
	"math"
	"slices"

	"github.com/slowai-go/course/slowai/tensor"
)

// Modes reads the clusters off converged points (rows of x): walking through the points, a
// point within tol of a mode found so far joins it, any other starts a new mode.
func Modes(x *tensor.Matrix, tol float64) [][2]float64 {
	var found [][2]float64
	for i := range x.Rows {
		p := [2]float64{float64(x.At(i, 0)), float64(x.At(i, 1))}
		if !slices.ContainsFunc(found, func(m [2]float64) bool { return math.Hypot(m[0]-p[0], m[1]-p[1]) < tol }) {
			found = append(found, p)
		}
	}
	return found
}

// WorstMiss is how far the true centroid farthest from every mode is from its nearest mode:
// small when each true cluster was found, large when one was merged away or missed.
// It is +Inf when there are no modes.
func WorstMiss(centroids *tensor.Matrix, modes [][2]float64) float64 {
	worst := 0.0
	for c := range centroids.Rows {
		near := math.Inf(1)
		for _, m := range modes {
			near = min(near, math.Hypot(m[0]-float64(centroids.At(c, 0)), m[1]-float64(centroids.At(c, 1))))
		}
		worst = max(worst, near)
	}
	return worst
}
