package cluster

import (
	"math"
	"slices"
	"testing"

	"github.com/slowai-go/course/slowai/tensor"
)

func TestModes(t *testing.T) {
	x, _ := tensor.FromSlice(5, 2, []float32{0, 0, 0.5, 0, 10, 10, 0, 0.9, 10.2, 10})
	got := Modes(x, 1)
	if want := [][2]float64{{0, 0}, {10, 10}}; !slices.Equal(got, want) {
		t.Errorf("Modes(tol 1) = %v, want %v", got, want)
	}
	if got := Modes(x, 0.1); len(got) != 5 {
		t.Errorf("Modes(tol 0.1) found %d modes, want every point (5)", len(got))
	}
}

func TestWorstMiss(t *testing.T) {
	centroids, _ := tensor.FromSlice(2, 2, []float32{0, 0, 10, 0})
	if got := WorstMiss(centroids, [][2]float64{{0, 1}, {13, 4}}); math.Abs(got-5) > 1e-9 {
		t.Errorf("WorstMiss = %v, want 5 (centroid (10,0) to mode (13,4))", got)
	}
	if got := WorstMiss(centroids, [][2]float64{{5, 0}}); math.Abs(got-5) > 1e-9 {
		t.Errorf("one mode between both: WorstMiss = %v, want 5", got)
	}
	if got := WorstMiss(centroids, nil); !math.IsInf(got, 1) {
		t.Errorf("no modes: WorstMiss = %v, want +Inf", got)
	}
}
