package backprop

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Autodiff computes an MLP's MSE loss as a GoMLX graph and lets the engine differentiate it: an
// independent check on the hand-written backward pass. It reads the MLP's current weights at every
// call, so it also serves finite differences, which nudge one weight at a time.
type Autodiff struct {
	be        compute.Backend
	m         *MLP
	x, target []float32
	in        int
	grads     *graph.Exec // float32: loss and the gradient of every parameter
	loss64    *graph.Exec // float64: loss only
}

// NewAutodiff prepares the check of m on the examples x [n, in] with targets [n]; m's last layer must
// have one output, as MSE compares one prediction per example.
func NewAutodiff(be compute.Backend, m *MLP, x, target []float32) (*Autodiff, error) {
	if be == nil {
		return nil, fmt.Errorf("backprop.NewAutodiff: backend is nil")
	}
	lins := linears(m)
	if len(lins) == 0 {
		return nil, fmt.Errorf("backprop.NewAutodiff: the MLP has no Linear layer")
	}
	in, out := lins[0].In, lins[len(lins)-1].Out
	if out != 1 {
		return nil, fmt.Errorf("backprop.NewAutodiff: the MLP ends in %d outputs, want 1 (MSE against one target per example)", out)
	}
	if len(x) == 0 || len(x)%in != 0 || len(x)/in != len(target) {
		return nil, fmt.Errorf("backprop.NewAutodiff: x has %d values and target %d, want %d·n and n for n > 0 examples", len(x), len(target), in)
	}
	return &Autodiff{be: be, m: m, x: x, target: target, in: in}, nil
}

func linears(m *MLP) []*Linear {
	var ls []*Linear
	for _, l := range m.Layers {
		if lin, ok := l.(*Linear); ok {
			ls = append(ls, lin)
		}
	}
	return ls
}

// lossGraph is the MLP's forward pass and MSE loss on graph nodes, in the dtype of its inputs:
// xs holds x, target, then each Linear's W and b.
func (a *Autodiff) lossGraph(xs []*graph.Node) *graph.Node {
	h, target, params := xs[0], xs[1], xs[2:]
	for _, l := range a.m.Layers {
		switch l.(type) {
		case *Linear:
			w, b := params[0], params[1]
			params = params[2:]
			h = graph.Add(graph.MatMul(h, w), graph.ExpandAxes(b, 0))
		case *ReLU:
			h = graph.MaxScalar(h, 0)
		default:
			panic(fmt.Sprintf("backprop.Autodiff: layer type %T has no graph version", l))
		}
	}
	pred := graph.Reshape(h, -1)
	return graph.ReduceAllMean(graph.Square(graph.Sub(pred, target)))
}

// args are the current inputs and weights as tensors.
func (a *Autodiff) args() []any {
	n := len(a.target)
	args := []any{
		tensors.FromFlatDataAndDimensions(a.x, n, a.in),
		tensors.FromFlatDataAndDimensions(a.target, n),
	}
	for _, p := range a.m.Params() {
		args = append(args, tensors.FromFlatDataAndDimensions(p.Value, p.Dims...))
	}
	return args
}

// Gradients returns the loss and the engine's gradient of it with respect to every parameter, in the
// order of MLP.Params, all in float32 like the hand-written pass.
func (a *Autodiff) Gradients() (float32, [][]float32, error) {
	if a.grads == nil {
		e, err := graph.NewExec(a.be, func(xs []*graph.Node) []*graph.Node {
			loss := a.lossGraph(xs)
			return append([]*graph.Node{loss}, graph.Gradient(loss, xs[2:]...)...)
		})
		if err != nil {
			return 0, nil, fmt.Errorf("backprop.Autodiff: %w", err)
		}
		a.grads = e
	}
	out, err := a.grads.Exec(a.args()...)
	if err != nil {
		return 0, nil, fmt.Errorf("backprop.Autodiff: %w", err)
	}
	flat := make([][]float32, len(out))
	for i, t := range out {
		flat[i], err = tensors.CopyFlatData[float32](t)
		t.FinalizeAll()
		if err != nil {
			return 0, nil, fmt.Errorf("backprop.Autodiff: %w", err)
		}
	}
	return flat[0][0], flat[1:], nil
}

// Loss64 returns the loss computed in float64 from the current (float32) weights: finite differences
// subtract two nearly equal losses, and float32's seven digits would leave little of the difference.
func (a *Autodiff) Loss64() (float64, error) {
	if a.loss64 == nil {
		e, err := graph.NewExec(a.be, func(xs []*graph.Node) *graph.Node {
			wide := make([]*graph.Node, len(xs))
			for i, x := range xs {
				wide[i] = graph.ConvertDType(x, dtypes.Float64)
			}
			return a.lossGraph(wide)
		})
		if err != nil {
			return 0, fmt.Errorf("backprop.Autodiff: %w", err)
		}
		a.loss64 = e
	}
	out, err := a.loss64.Exec(a.args()...)
	if err != nil {
		return 0, fmt.Errorf("backprop.Autodiff: %w", err)
	}
	v, err := tensors.CopyFlatData[float64](out[0])
	out[0].FinalizeAll()
	if err != nil {
		return 0, fmt.Errorf("backprop.Autodiff: %w", err)
	}
	return v[0], nil
}

// FiniteDiff estimates dL/dp[i] by a central difference, (L(p[i]+h) - L(p[i]-h)) / (2h), restoring
// p[i] afterwards. The step is measured after rounding p[i]±h to float32, so with a float64 loss the
// estimate is limited only by the O(h²) error of the formula.
func FiniteDiff(loss func() (float64, error), p []float32, i int, h float32) (float64, error) {
	old := p[i]
	defer func() { p[i] = old }()
	p[i] = old + h
	up := p[i]
	lUp, err := loss()
	if err != nil {
		return 0, err
	}
	p[i] = old - h
	down := p[i]
	lDown, err := loss()
	if err != nil {
		return 0, err
	}
	return (lUp - lDown) / (float64(up) - float64(down)), nil
}
