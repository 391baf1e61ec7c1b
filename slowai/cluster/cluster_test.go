package cluster

import (
	"fmt"
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/tensor"
)

// shift64 is one mean shift step in float64, the reference for the float32 versions.
func shift64(x *tensor.Matrix, bw float64) []float64 {
	out := make([]float64, 2*x.Rows)
	for i := 0; i < x.Rows; i++ {
		var sx, sy, sw float64
		for j := 0; j < x.Rows; j++ {
			dx, dy := float64(x.At(j, 0)-x.At(i, 0)), float64(x.At(j, 1)-x.At(i, 1))
			w := math.Exp(-0.5 * (dx*dx + dy*dy) / (bw * bw))
			sx, sy, sw = sx+w*float64(x.At(j, 0)), sy+w*float64(x.At(j, 1)), sw+w
		}
		out[2*i], out[2*i+1] = sx/sw, sy/sw
	}
	return out
}

func near(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol {
			t.Fatalf("%s: value %d = %g, want %g (off by %g)", name, i, got[i], want[i], d)
		}
	}
}

func TestGaussian(t *testing.T) {
	if g, want := Gaussian(0, 2), 1/(2*math.Sqrt(2*math.Pi)); math.Abs(float64(g)-want) > 1e-7 {
		t.Errorf("Gaussian(0, 2) = %v, want %v", g, want)
	}
	if r := Gaussian(2, 2) / Gaussian(0, 2); math.Abs(float64(r)-math.Exp(-0.5)) > 1e-6 {
		t.Errorf("one bandwidth away the weight ratio is %v, want e^-1/2", r)
	}
}

// TestTwoPoints: two points 2 apart each move to (1·self + w·other)/(1 + w), w = e^(-2/bw²).
func TestTwoPoints(t *testing.T) {
	x, _ := tensor.FromSlice(2, 2, []float32{0, 0, 2, 0})
	w := math.Exp(-0.5 * 4 / (1.5 * 1.5))
	want := []float64{2 * w / (1 + w), 0, 2 / (1 + w), 0}
	near(t, "loops", ShiftLoops(x, 1.5).Data, want, 1e-6)
	b, err := ShiftBroadcast(x, 1.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "broadcast", b.Data, want, 1e-6)
}

func TestThreeVersionsAgree(t *testing.T) {
	x, _, _ := Blobs(1, 3, 40)
	want := shift64(x, 2.5)
	near(t, "loops", ShiftLoops(x, 2.5).Data, want, 1e-4)
	for _, batch := range []int{1, 7, 120, 500} {
		b, err := ShiftBroadcast(x, 2.5, batch)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "broadcast", b.Data, want, 1e-4)
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, dist := range []Distances{Broadcast, Expand} {
		for _, batch := range []int{32, 500} {
			s, err := NewShifter(be, 2.5, batch, dist)
			if err != nil {
				t.Fatal(err)
			}
			e, err := s.Step(x)
			if err != nil {
				t.Fatal(err)
			}
			near(t, fmt.Sprintf("engine, distances %d, batch %d", dist, batch), e.Data, want, 1e-4)
		}
	}
	if _, err := ShiftBroadcast(x, 2.5, 0); err == nil {
		t.Error("batch 0 gave no error")
	}
	if _, err := NewShifter(be, 0, 4, Broadcast); err == nil {
		t.Error("bandwidth 0 gave no error")
	}
	if _, err := NewShifter(be, 1, 4, Distances(7)); err == nil {
		t.Error("Distances(7) gave no error")
	}
}

// TestConverges: after five steps every blob has collapsed to one point, and a blob far from
// the others (no other centroid within 15) collapses near its densest point, which for a
// normal blob is close to the blob's sample mean.
func TestConverges(t *testing.T) {
	const k, n = 4, 60
	x, c, labels := Blobs(3, k, n)
	mean := make([]float64, 2*k)
	for i, l := range labels {
		mean[2*l] += float64(x.At(i, 0)) / n
		mean[2*l+1] += float64(x.At(i, 1)) / n
	}
	for range 5 {
		x = ShiftLoops(x, 2.5)
	}
	isolated := 0
	for l := 0; l < k; l++ {
		alone := true
		for m := 0; m < k; m++ {
			if m != l && math.Hypot(float64(c.At(l, 0)-c.At(m, 0)), float64(c.At(l, 1)-c.At(m, 1))) < 15 {
				alone = false
			}
		}
		for i := l * n; i < (l+1)*n; i++ {
			if d := math.Hypot(float64(x.At(i, 0)-x.At(l*n, 0)), float64(x.At(i, 1)-x.At(l*n, 1))); d > 0.01 {
				t.Fatalf("blob %d has not collapsed: point %d is %.3f from point %d", l, i, d, l*n)
			}
		}
		if alone {
			isolated++
			if d := math.Hypot(float64(x.At(l*n, 0))-mean[2*l], float64(x.At(l*n, 1))-mean[2*l+1]); d > 1 {
				t.Errorf("isolated blob %d converged %.2f from its sample mean", l, d)
			}
		}
	}
	if isolated < 2 {
		t.Fatalf("only %d isolated blobs: pick another seed", isolated)
	}
}

func TestBlobs(t *testing.T) {
	x, c, labels := Blobs(7, 6, 250)
	if x.Rows != 1500 || c.Rows != 6 || len(labels) != 1500 || labels[250] != 1 {
		t.Fatalf("shapes: %d points, %d centroids, %d labels", x.Rows, c.Rows, len(labels))
	}
	for _, v := range c.Data {
		if v < -35 || v > 35 {
			t.Errorf("centroid coordinate %v outside [-35, 35]", v)
		}
	}
	// Variance about the true centroid should be about 5 per coordinate.
	var ss float64
	for i, l := range labels {
		dx := float64(x.At(i, 0) - c.At(l, 0))
		ss += dx * dx
	}
	if v := ss / 1500; v < 4.5 || v > 5.5 {
		t.Errorf("variance %.2f, want about 5", v)
	}
	if _, err := Frame(x, labels, c, "blobs", 45); err != nil {
		t.Fatal(err)
	}
	if _, err := Frame(x, labels[:3], nil, "bad", 45); err == nil {
		t.Error("Frame with 3 labels for 1500 points gave no error")
	}
}

func benchShift(b *testing.B, step func(x *tensor.Matrix) *tensor.Matrix) {
	x, _, _ := Blobs(1, 6, 250)
	step(x) // warm up: the engine compiles its graph on the first call; b.Loop times what follows
	for b.Loop() {
		step(x)
	}
}

func BenchmarkShiftLoops(b *testing.B) {
	benchShift(b, func(x *tensor.Matrix) *tensor.Matrix { return ShiftLoops(x, 2.5) })
}

func BenchmarkShiftBroadcast(b *testing.B) {
	benchShift(b, func(x *tensor.Matrix) *tensor.Matrix { y, _ := ShiftBroadcast(x, 2.5, 500); return y })
}

func BenchmarkShiftEngine(b *testing.B)       { benchEngine(b, Broadcast) }
func BenchmarkShiftEngineExpand(b *testing.B) { benchEngine(b, Expand) }

func benchEngine(b *testing.B, dist Distances) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewShifter(be, 2.5, 500, dist)
	if err != nil {
		b.Fatal(err)
	}
	benchShift(b, func(x *tensor.Matrix) *tensor.Matrix { y, _ := s.Step(x); return y })
}
