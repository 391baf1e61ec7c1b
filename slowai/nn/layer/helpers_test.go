package layer

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/slowai-go/course/slowai/nn/internal/nntest"
)

// randData draws n normal values (stream 7 of seed), the layer tests' data.
func randData(seed uint64, n int) []float64 { return nntest.Normal(seed, 7, n) }

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

// checkLayerGrad checks the gradient of L = sum(build(x) * R) with respect to x and to every trainable variable
// the layer creates, against central finite differences along 3 random directions each. training sets the
// store's training flag for the graph.
func checkLayerGrad(t *testing.T, c nntest.Case, name string, training bool, build func(s *model.Scope, x *Node) *Node, xDims []int) {
	t.Helper()
	eps, tol := c.FD()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	xData := randData(11, nntest.Size(xDims))
	x := func() *tensors.Tensor { return mk(c.DType, xData, xDims...) }
	// Output shape, and variables created and initialised.
	out, err := model.CallOnce(c.Backend, store, func(s *model.Scope, x *Node) *Node {
		store.SetTraining(x.Graph(), training)
		return build(s, x)
	}, x())
	if err != nil {
		t.Fatalf("%s: forward on %s: %v", name, c.Name, err)
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
	ge, err := model.NewExec(c.Backend, store, func(s *model.Scope, x, rr *Node) []*Node {
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
	grads, err := ge.Exec(x(), mk(c.DType, r, outDims...))
	if err != nil {
		t.Fatalf("%s: gradient on %s: %v", name, c.Name, err)
	}
	le, err := model.NewExec(c.Backend, store, lossFn)
	if err != nil {
		t.Fatal(err)
	}
	defer le.Finalize()
	loss := func(xt *tensors.Tensor) float64 {
		res, err := le.Exec(xt, mk(c.DType, r, outDims...))
		if err != nil {
			t.Fatalf("%s: loss on %s: %v", name, c.Name, err)
		}
		return nntest.Flat(res[0])[0]
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
		targets = append(targets, target{label: v.Path(), base: nntest.Flat(v.MustValue()), dims: v.Shape().Dimensions, set: func(d []float64) {
			if err := v.SetValue(mk(c.DType, d, v.Shape().Dimensions...)); err != nil {
				t.Fatal(err)
			}
		}})
	}
	for ti, tg := range targets {
		g := nntest.Flat(grads[ti])
		scale := 1.0
		for _, v := range g {
			scale = math.Max(scale, math.Abs(v))
		}
		for k := range 3 {
			dir := randData(uint64(100+10*ti+k), len(tg.base))
			ana := nntest.Directional(dir, g)
			at := func(sign float64) float64 {
				d := make([]float64, len(tg.base))
				for i := range d {
					d[i] = tg.base[i] + sign*eps*dir[i]
				}
				if tg.input {
					return loss(mk(c.DType, d, tg.dims...))
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
