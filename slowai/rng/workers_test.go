package rng

import (
	"slices"
	"testing"
)

// Whatever the interleaving, the shared generator hands out exactly its first workers·n
// numbers, n to each worker, each worker's in the order it drew them.
func TestDrawSharedHandsOutTheSequence(t *testing.T) {
	got := DrawShared(7, 4, 3)
	g := New(7)
	var want, all []float64
	for range 12 {
		want = append(want, g.Float64())
	}
	for w, xs := range got {
		if len(xs) != 3 {
			t.Fatalf("worker %d got %d numbers, want 3", w, len(xs))
		}
		for i := 1; i < len(xs); i++ {
			if slices.Index(want, xs[i]) <= slices.Index(want, xs[i-1]) {
				t.Errorf("worker %d's numbers %v are not in the sequence's order", w, xs)
			}
		}
		all = append(all, xs...)
	}
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("the workers got %v, want the first 12 numbers of New(7) %v", all, want)
	}
}

// With a generator per worker, worker w's numbers are New(seed*1000+w)'s, on every run.
func TestDrawOwnIsReproducible(t *testing.T) {
	got := DrawOwn(7, 4, 3)
	for w, xs := range got {
		g := New(7000 + uint64(w))
		want := []float64{g.Float64(), g.Float64(), g.Float64()}
		if !slices.Equal(xs, want) {
			t.Errorf("worker %d got %v, want %v", w, xs, want)
		}
	}
	if again := DrawOwn(7, 4, 3); !slices.EqualFunc(got, again, slices.Equal[[]float64]) {
		t.Errorf("two runs differ: %v and %v", got, again)
	}
}
