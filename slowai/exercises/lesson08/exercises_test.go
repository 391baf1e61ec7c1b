package lesson08

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
)

const file = "slowai/exercises/lesson08/exercises.go: "

func TestAbsHistogram(t *testing.T) {
	exercises.Check(t, file+"AbsHistogram", func(t *testing.T) {
		// Bins of width 0.5 over [0, 2): -0.1 and 0.4 in bin 0, 0.5 and -0.9 in bin 1,
		// 1.2 in bin 2, 1.99, 2 and -7 in bin 3.
		got := AbsHistogram([]float32{-0.1, 0.4, 0.5, -0.9, 1.2, 1.99, 2, -7}, 4, 2)
		want := []float64{2, 2, 1, 3}
		if len(got) != len(want) {
			t.Fatalf("AbsHistogram: %d bins, want %d", len(got), len(want))
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("AbsHistogram = %v, want %v", got, want)
			}
		}
		// The same histogram as learn.ActivationStats computes inside a graph.
		rng := rand.New(rand.NewPCG(8, 8))
		xs := make([]float32, 3000)
		for i := range xs {
			xs[i] = float32(rng.NormFloat64() * 4)
		}
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		exec, err := graph.NewExec(be, func(x *graph.Node) []*graph.Node {
			taps := &module.Taps{Names: []string{"x"}, Nodes: []*graph.Node{x}}
			return (&learn.ActivationStats{}).GraphOutputs(nil, taps)
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(xs, len(xs)))
		if err != nil {
			t.Fatal(err)
		}
		ref := tensors.MustCopyFlatData[float32](outs[2])
		got = AbsHistogram(xs, learn.HistBins, learn.HistMax)
		for k := range ref {
			if got[k] != float64(ref[k]) {
				t.Fatalf("bin %d: AbsHistogram counts %v, learn.ActivationStats %v", k, got[k], ref[k])
			}
		}
	})
}

func TestNearZeroFraction(t *testing.T) {
	exercises.Check(t, file+"NearZeroFraction", func(t *testing.T) {
		h := []float64{6, 2, 1, 1} // bins [0, .25), [.25, .5), [.5, .75), [.75, 1)
		for _, c := range []struct{ threshold, want float64 }{
			{0.5, 0.8}, {0.6, 0.8}, {0.75, 0.9}, {0.25, 0.6}, {0.1, 0}, {5, 1},
		} {
			if got := NearZeroFraction(h, 0.25, c.threshold); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("NearZeroFraction(%v, 0.25, %v) = %v, want %v", h, c.threshold, got, c.want)
			}
		}
		if got := NearZeroFraction([]float64{0, 0, 0}, 0.25, 0.5); got != 0 {
			t.Errorf("NearZeroFraction of an empty histogram = %v, want 0", got)
		}
		// With the library's bins and 0.5 it is LayerStats.NearZero.
		rng := rand.New(rand.NewPCG(9, 9))
		hist := make([]float64, learn.HistBins)
		for k := range hist {
			hist[k] = float64(rng.IntN(100))
		}
		want := learn.LayerStats{Hists: [][]float64{hist}}.NearZero()[0]
		if got := NearZeroFraction(hist, learn.HistMax/learn.HistBins, 0.5); math.Abs(got-want) > 1e-12 {
			t.Errorf("NearZeroFraction = %v, LayerStats.NearZero = %v", got, want)
		}
	})
}

func TestDead(t *testing.T) {
	exercises.Check(t, file+"Dead", func(t *testing.T) {
		acts := [][]float32{
			{0, 1, 0, 0},
			{0, 0, 0, 2},
			{0, 3, 0, 0},
		}
		if got := Dead(acts); got != 0.5 {
			t.Errorf("Dead(%v) = %v, want 0.5 (units 0 and 2)", acts, got)
		}
		if got := Dead([][]float32{{1, -1}}); got != 0 {
			t.Errorf("Dead of live units = %v, want 0", got)
		}
		if got := Dead([][]float32{{0, 0}, {0, 0}}); got != 1 {
			t.Errorf("Dead of all-zero activations = %v, want 1", got)
		}
	})
}
