package nn

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/slowai-go/course/slowai/backend"
)

// beCase is one backend under test with the float dtype its checks run in: float64 where the backend supports
// every op in it (go), float32 otherwise (ONNX Runtime's CPU Conv and Erf are float32-only).
type beCase struct {
	name  string
	be    compute.Backend
	dtype dtypes.DType
}

// fd returns the finite-difference step and the gradient tolerance suited to the case's dtype.
func (c beCase) fd() (eps, tol float64) {
	if c.dtype == dtypes.Float64 {
		return 1e-6, 1e-6
	}
	return 1e-2, 2e-2
}

// fwdTol is the forward-check tolerance for the case's dtype.
func (c beCase) fwdTol() float64 {
	if c.dtype == dtypes.Float64 {
		return 1e-10
	}
	return 2e-5
}

var (
	beOnce  sync.Once
	beCases []beCase
	beSkips []string
)

// forEachBackend runs fn as a subtest on "go" and, when its library loads, "onnx".
func forEachBackend(t *testing.T, fn func(t *testing.T, c beCase)) {
	t.Helper()
	beOnce.Do(func() {
		for _, n := range []struct {
			name  string
			dtype dtypes.DType
		}{{"go", dtypes.Float64}, {"onnx", dtypes.Float32}} {
			be, err := backend.NewNamed(n.name)
			if err != nil {
				beSkips = append(beSkips, n.name+": "+err.Error())
				continue
			}
			beCases = append(beCases, beCase{n.name, be, n.dtype})
		}
	})
	for _, s := range beSkips {
		t.Logf("backend skipped: %s", s)
	}
	for _, c := range beCases {
		t.Run(c.name, func(t *testing.T) { fn(t, c) })
	}
}

// randT returns a float64 tensor of normal random values from a fixed seed.
func randT(seed uint64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(randData(seed, size(dims)), dims...)
}

func randData(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	d := make([]float64, n)
	for i := range d {
		d[i] = r.NormFloat64()
	}
	return d
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func flat(t *tensors.Tensor) []float64 {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		d := make([]float64, len(f))
		for i, v := range f {
			d[i] = float64(v)
		}
		return d
	}
	panic("flat: unsupported dtype " + t.DType().String())
}

// castIn converts float inputs to the case dtype, leaving integer/bool inputs alone.
func castIn(ins []*Node, dtype dtypes.DType) []*Node {
	out := make([]*Node, len(ins))
	for i, x := range ins {
		if x.DType().IsFloat() {
			x = ConvertDType(x, dtype)
		}
		out[i] = x
	}
	return out
}

func toAny(ts []*tensors.Tensor) []any {
	a := make([]any, len(ts))
	for i, t := range ts {
		// A tensor used by one backend cannot be fed to another; hand each call a local copy.
		c, err := t.LocalClone()
		if err != nil {
			panic(err)
		}
		a[i] = c
	}
	return a
}

// runF evaluates f on the backend (inputs cast to the case dtype) and returns the output as float64.
func runF(t *testing.T, c beCase, f func(ins []*Node) *Node, ins ...*tensors.Tensor) ([]float64, []int) {
	t.Helper()
	e, err := NewExec(c.be, func(xs []*Node) *Node {
		return ConvertDType(f(castIn(xs, c.dtype)), dtypes.Float64)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(toAny(ins)...)
	if err != nil {
		t.Fatalf("exec on %s: %v", c.name, err)
	}
	return flat(out[0]), out[0].Shape().Dimensions
}

// checkForward compares f(ins) with want (and its dims) within tol.
func checkForward(t *testing.T, c beCase, name string, f func(ins []*Node) *Node, want []float64, wantDims []int, tol float64, ins ...*tensors.Tensor) {
	t.Helper()
	got, dims := runF(t, c, f, ins...)
	if !sameInts(dims, wantDims) {
		t.Fatalf("%s: got dims %v, want %v", name, dims, wantDims)
	}
	worst, at := 0.0, -1
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: max |got-want| = %.3g at flat index %d (got %.8g want %.8g), tolerance %.1g",
			name, worst, at, got[at], want[at], tol)
	}
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkGrad compares the gradient of L = sum(f(ins) * R), R a fixed random tensor, with respect to each input
// listed in wrt, against central finite differences of L. Inputs up to 48 elements are checked element by
// element; larger ones along 3 random directions (a wrong gradient component shows up in any random direction).
func checkGrad(t *testing.T, c beCase, name string, f func(ins []*Node) *Node, wrt []int, ins ...*tensors.Tensor) {
	t.Helper()
	eps, tol := c.fd()
	// Output shape, to draw R.
	_, outDims := runF(t, c, f, ins...)
	r := randT(777, outDims...)
	all := append(append([]*tensors.Tensor{}, ins...), r)
	lossOf := func(xs []*Node) *Node {
		xs = castIn(xs, c.dtype)
		out := f(xs[:len(ins)])
		return ReduceAllSum(Mul(out, xs[len(ins)]))
	}
	ge, err := NewExec(c.be, func(xs []*Node) []*Node {
		cast := castIn(xs, c.dtype)
		out := f(cast[:len(ins)])
		loss := ReduceAllSum(Mul(out, cast[len(ins)]))
		var targets []*Node
		for _, i := range wrt {
			targets = append(targets, cast[i])
		}
		grads := Gradient(loss, targets...)
		for i := range grads {
			grads[i] = ConvertDType(grads[i], dtypes.Float64)
		}
		return grads
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ge.Finalize()
	grads, err := ge.Exec(toAny(all)...)
	if err != nil {
		t.Fatalf("%s: gradient on %s: %v", name, c.name, err)
	}
	le, err := NewExec(c.be, func(xs []*Node) *Node { return ConvertDType(lossOf(xs), dtypes.Float64) })
	if err != nil {
		t.Fatal(err)
	}
	defer le.Finalize()
	loss := func(args []*tensors.Tensor) float64 {
		out, err := le.Exec(toAny(args)...)
		if err != nil {
			t.Fatalf("%s: loss on %s: %v", name, c.name, err)
		}
		return flat(out[0])[0]
	}
	for gi, wi := range wrt {
		g := flat(grads[gi])
		base := flat(all[wi])
		dims := all[wi].Shape().Dimensions
		scale := 0.0
		for _, v := range g {
			scale = math.Max(scale, math.Abs(v))
		}
		scale = math.Max(scale, 1)
		probe := func(dir []float64) float64 {
			args := append([]*tensors.Tensor{}, all...)
			plus, minus := make([]float64, len(base)), make([]float64, len(base))
			for i := range base {
				plus[i], minus[i] = base[i]+eps*dir[i], base[i]-eps*dir[i]
			}
			args[wi] = tensors.FromFlatDataAndDimensions(plus, dims...)
			lp := loss(args)
			args[wi] = tensors.FromFlatDataAndDimensions(minus, dims...)
			lm := loss(args)
			return (lp - lm) / (2 * eps)
		}
		if len(base) <= 48 {
			for i := range base {
				dir := make([]float64, len(base))
				dir[i] = 1
				num := probe(dir)
				if math.Abs(num-g[i]) > tol*scale || math.IsNaN(g[i]) {
					t.Errorf("%s: d/d input %d [%d]: analytic %.8g, finite difference %.8g (tol %.1g)", name, wi, i, g[i], num, tol*scale)
				}
			}
			continue
		}
		for k := range 3 {
			dir := randData(uint64(1000+k), len(base))
			norm := 0.0
			for _, v := range dir {
				norm += v * v
			}
			norm = math.Sqrt(norm)
			ana := 0.0
			for i := range dir {
				dir[i] /= norm
				ana += dir[i] * g[i]
			}
			num := probe(dir)
			if math.Abs(num-ana) > tol*scale || math.IsNaN(ana) {
				t.Errorf("%s: d/d input %d along random direction %d: analytic %.8g, finite difference %.8g (tol %.1g)", name, wi, k, ana, num, tol*scale)
			}
		}
	}
}
