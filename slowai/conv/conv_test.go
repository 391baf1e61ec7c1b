package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/nn/module"
)

var testBackend compute.Backend

func engine(t *testing.T) compute.Backend {
	t.Helper()
	if testBackend == nil {
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		testBackend = be
	}
	return testBackend
}

func random(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestOutSize(t *testing.T) {
	for _, c := range []struct{ n, k, stride, pad, want int }{
		{28, 3, 1, 0, 26}, // valid convolution loses k-1
		{28, 3, 1, 1, 28}, // padding k/2 keeps the size
		{28, 3, 2, 1, 14}, // stride 2 halves it
		{7, 3, 2, 1, 4},   // odd sizes round up
		{2, 3, 2, 1, 1},
		{32, 4, 4, 0, 8}, // non-overlapping 4x4 patches
		{5, 5, 1, 0, 1},
	} {
		if got := OutSize(c.n, c.k, c.stride, c.pad); got != c.want {
			t.Errorf("OutSize(%d, k=%d, stride=%d, pad=%d) = %d, want %d", c.n, c.k, c.stride, c.pad, got, c.want)
		}
	}
}

// A bright lower half under a dark upper half: the top-edge kernel sees the step in exactly the
// two output rows whose window straddles it, with value 3 (three pixels of +1), and the
// left-edge kernel sees nothing.
func TestEdgeKernelsOnAStep(t *testing.T) {
	const h, w = 6, 5
	img := make([]float32, h*w)
	for r := 3; r < h; r++ {
		for c := range w {
			img[r*w+c] = 1
		}
	}
	top := Apply(img, h, w, TopEdge, 3, 1, 0)
	left := Apply(img, h, w, LeftEdge, 3, 1, 0)
	oh, ow := OutSize(h, 3, 1, 0), OutSize(w, 3, 1, 0)
	for i := range oh {
		want := float32(0)
		if i == 1 || i == 2 { // windows over rows 1-3 and 2-4 contain the step
			want = 3
		}
		for j := range ow {
			if top[i*ow+j] != want {
				t.Errorf("top edge at (%d,%d) = %g, want %g", i, j, top[i*ow+j], want)
			}
			if left[i*ow+j] != 0 {
				t.Errorf("left edge at (%d,%d) = %g, want 0 on a horizontal step", i, j, left[i*ow+j])
			}
		}
	}
}

func TestIm2ColLayout(t *testing.T) {
	// 2 channels of 3x3 holding 0..17; a 2x2 kernel, stride 1, no padding: 4 rows of 8 values.
	img := make([]float32, 18)
	for i := range img {
		img[i] = float32(i)
	}
	m, rows, cols := Im2Col(img, 2, 3, 3, 2, 1, 0)
	if rows != 4 || cols != 8 {
		t.Fatalf("Im2Col shape %dx%d, want 4x8", rows, cols)
	}
	want := []float32{
		0, 1, 3, 4, 9, 10, 12, 13,
		1, 2, 4, 5, 10, 11, 13, 14,
		3, 4, 6, 7, 12, 13, 15, 16,
		4, 5, 7, 8, 13, 14, 16, 17,
	}
	if maxDiff(m, want) != 0 {
		t.Errorf("Im2Col = %v, want %v", m, want)
	}
	// With padding 1, the first row's window hangs over the top-left corner: zeros there.
	m, rows, _ = Im2Col(img, 1, 3, 3, 3, 1, 1)
	if rows != 9 || maxDiff(m[:9], []float32{0, 0, 0, 0, 0, 1, 0, 3, 4}) != 0 {
		t.Errorf("padded Im2Col first row = %v (rows %d), want [0 0 0 0 0 1 0 3 4] and 9 rows", m[:9], rows)
	}
}

// The three ways agree with each other and with the engine's convolution, over strides,
// paddings, channels and kernel sizes.
func TestThreeWaysAgree(t *testing.T) {
	be := engine(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ c, h, w, outC, k, stride, pad int }{
		{1, 28, 28, 1, 3, 1, 0},
		{1, 28, 28, 2, 3, 2, 1},
		{3, 9, 7, 4, 3, 2, 1},
		{2, 8, 8, 3, 5, 1, 2},
		{4, 7, 7, 2, 3, 3, 0},
		{1, 6, 6, 1, 2, 2, 0},
	} {
		const n = 2
		imgs := random(rng, n*c.c*c.h*c.w)
		weight := random(rng, c.outC*c.c*c.k*c.k)
		got, err := Engine(be, imgs, n, c.c, c.h, c.w, weight, c.outC, c.k, c.stride, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := OutSize(c.h, c.k, c.stride, c.pad), OutSize(c.w, c.k, c.stride, c.pad)
		if len(got) != n*c.outC*oh*ow {
			t.Fatalf("%+v: engine gave %d values, want %d", c, len(got), n*c.outC*oh*ow)
		}
		for b := range n {
			img := imgs[b*c.c*c.h*c.w : (b+1)*c.c*c.h*c.w]
			mm := ByMatMul(img, c.c, c.h, c.w, weight, c.outC, c.k, c.stride, c.pad)
			if d := maxDiff(mm, got[b*len(mm):(b+1)*len(mm)]); d > 1e-4 {
				t.Errorf("%+v image %d: ByMatMul vs engine differ by %g", c, b, d)
			}
			if c.c != 1 {
				continue
			}
			for o := range c.outC {
				loops := Apply(img, c.h, c.w, weight[o*c.k*c.k:(o+1)*c.k*c.k], c.k, c.stride, c.pad)
				if d := maxDiff(loops, mm[o*oh*ow:(o+1)*oh*ow]); d > 1e-4 {
					t.Errorf("%+v image %d channel %d: Apply vs ByMatMul differ by %g", c, b, o, d)
				}
			}
		}
	}
}

func TestEngineRejectsBadSizes(t *testing.T) {
	be := engine(t)
	if _, err := Engine(be, make([]float32, 10), 1, 1, 4, 4, make([]float32, 9), 1, 3, 1, 0); err == nil {
		t.Error("Engine accepted 10 values for a 1x1x4x4 batch")
	}
	if _, err := Engine(be, make([]float32, 16), 1, 1, 4, 4, make([]float32, 8), 1, 3, 1, 0); err == nil {
		t.Error("Engine accepted 8 values for a 1x1x3x3 weight")
	}
	if _, err := Engine(be, make([]float32, 4), 1, 1, 2, 2, make([]float32, 9), 1, 3, 1, 0); err == nil {
		t.Error("Engine accepted a 3x3 kernel on a 2x2 image without padding")
	}
}

// SimpleCNN has fast.ai's 5,274 parameters and maps a batch of 28x28 images to 10 logits each.
func TestSimpleCNN(t *testing.T) {
	s := &module.Specs{}
	seq := SimpleCNN(s)
	if got := s.NumParams(); got != 5274 {
		t.Errorf("SimpleCNN has %d parameters, want 5274", got)
	}
	be := engine(t)
	v := module.NewVarsOn("/m", be)
	if err := module.Randomize(v, s, 1); err != nil {
		t.Fatal(err)
	}
	exec, err := model.NewExec(be, v.Store, func(_ *model.Scope, x *graph.Node) *graph.Node { return seq.Apply(v, x) })
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(random(rand.New(rand.NewPCG(3, 4)), 3*28*28), 3, 1, 28, 28))
	if err != nil {
		t.Fatal(err)
	}
	if d := outs[0].Shape().Dimensions; len(d) != 2 || d[0] != 3 || d[1] != 10 {
		t.Errorf("SimpleCNN output shape %v, want [3 10]", d)
	}
}
