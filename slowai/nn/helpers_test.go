package nn

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/slowai-go/course/slowai/nn/internal/nntest"
)

// randT returns a float64 tensor of normal random values from a fixed seed.
func randT(seed uint64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(randData(seed, nntest.Size(dims)), dims...)
}

// randData draws n normal values (stream 99 of seed), the nn tests' data.
func randData(seed uint64, n int) []float64 { return nntest.Normal(seed, 99, n) }

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
func runF(t *testing.T, c nntest.Case, f func(ins []*Node) *Node, ins ...*tensors.Tensor) ([]float64, []int) {
	t.Helper()
	e, err := NewExec(c.Backend, func(xs []*Node) *Node {
		return ConvertDType(f(castIn(xs, c.DType)), dtypes.Float64)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(toAny(ins)...)
	if err != nil {
		t.Fatalf("exec on %s: %v", c.Name, err)
	}
	return nntest.Flat(out[0]), out[0].Shape().Dimensions
}

// checkForward compares f(ins) with want (and its dims) within tol.
func checkForward(t *testing.T, c nntest.Case, name string, f func(ins []*Node) *Node, want []float64, wantDims []int, tol float64, ins ...*tensors.Tensor) {
	t.Helper()
	got, dims := runF(t, c, f, ins...)
	if !slices.Equal(dims, wantDims) {
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

// checkGrad compares the gradient of L = sum(f(ins) * R), R a fixed random tensor, with respect to each input
// listed in wrt, against central finite differences of L. Inputs up to 48 elements are checked element by
// element; larger ones along 3 random directions (a wrong gradient component shows up in any random direction).
func checkGrad(t *testing.T, c nntest.Case, name string, f func(ins []*Node) *Node, wrt []int, ins ...*tensors.Tensor) {
	t.Helper()
	eps, tol := c.FD()
	// Output shape, to draw R.
	_, outDims := runF(t, c, f, ins...)
	r := randT(777, outDims...)
	all := append(append([]*tensors.Tensor{}, ins...), r)
	lossOf := func(xs []*Node) *Node {
		xs = castIn(xs, c.DType)
		out := f(xs[:len(ins)])
		return ReduceAllSum(Mul(out, xs[len(ins)]))
	}
	ge, err := NewExec(c.Backend, func(xs []*Node) []*Node {
		cast := castIn(xs, c.DType)
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
		t.Fatalf("%s: gradient on %s: %v", name, c.Name, err)
	}
	le, err := NewExec(c.Backend, func(xs []*Node) *Node { return ConvertDType(lossOf(xs), dtypes.Float64) })
	if err != nil {
		t.Fatal(err)
	}
	defer le.Finalize()
	loss := func(args []*tensors.Tensor) float64 {
		out, err := le.Exec(toAny(args)...)
		if err != nil {
			t.Fatalf("%s: loss on %s: %v", name, c.Name, err)
		}
		return nntest.Flat(out[0])[0]
	}
	for gi, wi := range wrt {
		g := nntest.Flat(grads[gi])
		base := nntest.Flat(all[wi])
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
			ana := nntest.Directional(dir, g)
			num := probe(dir)
			if math.Abs(num-ana) > tol*scale || math.IsNaN(ana) {
				t.Errorf("%s: d/d input %d along random direction %d: analytic %.8g, finite difference %.8g (tol %.1g)", name, wi, k, ana, num, tol*scale)
			}
		}
	}
}
