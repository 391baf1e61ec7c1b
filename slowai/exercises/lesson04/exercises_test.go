package lesson04

import (
	"math"
	"slices"
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
)

func TestSoftmax(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson04/exercises.go: Softmax", func(t *testing.T) {
		logits := []float32{0, 1, 2, 1000, 1000, 990}
		p := Softmax(logits, 3)
		if len(p) != 6 {
			t.Fatalf("Softmax returned %d values, want 6", len(p))
		}
		z := 1 + math.E + math.E*math.E
		e10 := math.Exp(-10)
		want := []float64{1 / z, math.E / z, math.E * math.E / z, 1 / (2 + e10), 1 / (2 + e10), e10 / (2 + e10)}
		for i := range want {
			if math.Abs(float64(p[i])-want[i]) > 1e-6 || math.IsNaN(float64(p[i])) {
				t.Fatalf("Softmax = %v, want %v", p, want)
			}
		}
	})
}

func TestTopKAccuracy(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson04/exercises.go: TopKAccuracy", func(t *testing.T) {
		logits := []float32{
			0.1, 0.5, 0.3, 0.2, // label 2 is 2nd
			0.9, 0.05, 0.03, 0.02, // label 0 is 1st
			0.1, 0.2, 0.3, 0.4, // label 0 is 4th
		}
		labels := []int{2, 0, 0}
		for k, want := range map[int]float64{1: 1.0 / 3, 2: 2.0 / 3, 3: 2.0 / 3, 4: 1} {
			if got := TopKAccuracy(logits, labels, 4, k); math.Abs(got-want) > 1e-12 {
				t.Errorf("top-%d accuracy %v, want %v", k, got, want)
			}
		}
		tie := []float32{1, 1, 0}
		if got := TopKAccuracy(tie, []int{1}, 3, 1); got != 1 {
			t.Errorf("a label tied for first counts in top-1: got %v", got)
		}
	})
}

func TestBatchesDropLast(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson04/exercises.go: BatchesDropLast", func(t *testing.T) {
		idx := []int{9, 8, 7, 6, 5, 4, 3}
		got := BatchesDropLast(idx, 3)
		if len(got) != 2 || !slices.Equal(got[0], []int{9, 8, 7}) || !slices.Equal(got[1], []int{6, 5, 4}) {
			t.Errorf("BatchesDropLast(7 indices, 3) = %v, want [[9 8 7] [6 5 4]]", got)
		}
		if got := BatchesDropLast(idx[:6], 3); len(got) != 2 {
			t.Errorf("6 indices in batches of 3: %d batches, want 2", len(got))
		}
		if got := BatchesDropLast(idx[:2], 3); len(got) != 0 {
			t.Errorf("2 indices in batches of 3: %v, want none", got)
		}
	})
}
