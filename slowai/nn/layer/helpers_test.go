package layer

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
	"github.com/gomlx/gomlx/ml/model"
	"github.com/slowai-go/course/slowai/backend"
)

// beCase is one backend under test and the float dtype its checks use: float64 on "go", float32 on "onnx"
// (ONNX Runtime's CPU Conv and Erf are float32-only).
type beCase struct {
	name  string
	be    compute.Backend
	dtype dtypes.DType
}

var (
	beOnce  sync.Once
	beCases []beCase
	beSkips []string
)

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

func randData(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
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

// mk makes a tensor of the given float dtype from float64 data.
func mk(dtype dtypes.DType, data []float64, dims ...int) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
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

// checkLayerGrad checks the gradient of L = sum(build(x) * R) with respect to x and to every trainable variable
// the layer creates, against central finite differences along 3 random directions each. training sets the
// store's training flag for the graph.
func checkLayerGrad(t *testing.T, c beCase, name string, training bool, build func(s *model.Scope, x *Node) *Node, xDims []int) {
	t.Helper()
	eps, tol := 1e-6, 1e-6
	if c.dtype == dtypes.Float32 {
		eps, tol = 1e-2, 2e-2
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	xData := randData(11, size(xDims))
	x := func() *tensors.Tensor { return mk(c.dtype, xData, xDims...) }
	// Output shape, and variables created and initialised.
	out, err := model.CallOnce(c.be, store, func(s *model.Scope, x *Node) *Node {
		store.SetTraining(x.Graph(), training)
		return build(s, x)
	}, x())
	if err != nil {
		t.Fatalf("%s: forward on %s: %v", name, c.name, err)
	}
	outDims := out.Shape().Dimensions
	r := randData(12, out.Shape().Size())
	var vars []*model.Variable
	for v := range store.RootScope().IterVariables() {
		if v.Trainable && v.DType().IsFloat() {
			vars = append(vars, v)
		}
	}
	lossFn := func(s *model.Scope, x, rr *Node) *Node {
		store.SetTraining(x.Graph(), training)
		return ReduceAllSum(Mul(build(s, x), rr))
	}
	ge, err := model.NewExec(c.be, store, func(s *model.Scope, x, rr *Node) []*Node {
		loss := lossFn(s, x, rr)
		targets := []*Node{x}
		for _, v := range vars {
			targets = append(targets, v.NodeValue(x.Graph()))
		}
		return Gradient(loss, targets...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ge.Finalize()
	grads, err := ge.Exec(x(), mk(c.dtype, r, outDims...))
	if err != nil {
		t.Fatalf("%s: gradient on %s: %v", name, c.name, err)
	}
	le, err := model.NewExec(c.be, store, lossFn)
	if err != nil {
		t.Fatal(err)
	}
	defer le.Finalize()
	loss := func(xt *tensors.Tensor) float64 {
		res, err := le.Exec(xt, mk(c.dtype, r, outDims...))
		if err != nil {
			t.Fatalf("%s: loss on %s: %v", name, c.name, err)
		}
		return flat(res[0])[0]
	}
	type target struct {
		label string
		base  []float64
		dims  []int
		set   func(d []float64) // installs a perturbed value; returns nothing
		input bool
	}
	targets := []target{{label: "input", base: xData, dims: xDims, input: true}}
	for _, v := range vars {
		targets = append(targets, target{label: v.Path(), base: flat(v.MustValue()), dims: v.Shape().Dimensions, set: func(d []float64) {
			if err := v.SetValue(mk(c.dtype, d, v.Shape().Dimensions...)); err != nil {
				t.Fatal(err)
			}
		}})
	}
	for ti, tg := range targets {
		g := flat(grads[ti])
		scale := 1.0
		for _, v := range g {
			scale = math.Max(scale, math.Abs(v))
		}
		for k := range 3 {
			dir := randData(uint64(100+10*ti+k), len(tg.base))
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
			at := func(sign float64) float64 {
				d := make([]float64, len(tg.base))
				for i := range d {
					d[i] = tg.base[i] + sign*eps*dir[i]
				}
				if tg.input {
					return loss(mk(c.dtype, d, tg.dims...))
				}
				tg.set(d)
				return loss(x())
			}
			num := (at(1) - at(-1)) / (2 * eps)
			if !tg.input {
				tg.set(tg.base)
			}
			if math.Abs(num-ana) > tol*scale || math.IsNaN(ana) {
				t.Errorf("%s: d/d %s along random direction %d: analytic %.8g, finite difference %.8g (tol %.1g)",
					name, tg.label, k, ana, num, tol*scale)
			}
		}
	}
}
