package learn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/nn/module"
)

// LSUVLayer pairs an activation the model taps (Tap, e.g. "relu0") with the layer whose weight and
// bias feed it (Param, e.g. "0" for "0.weight" and "0.bias").
type LSUVLayer struct{ Tap, Param string }

// LSUV is Mishkin and Matas's layer-sequential unit-variance initialisation, as a callback: before
// the first step it runs one training batch through the model and, layer by layer from the input
// on, divides the weight by the standard deviation of the tapped activation and subtracts its
// mean from the bias, until the activation has mean 0 and std 1 within Tol (or MaxIters passes).
// Whatever the activation function, each layer then starts with unit-scale outputs, measured
// rather than derived. The loader's position is put back, so the fit sees the same batches.
type LSUV struct {
	Layers   []LSUVLayer
	Tol      float64 // 1e-3 when 0
	MaxIters int     // 50 when 0
	// Before and After are each layer's activation [mean, std] before and after, for a table.
	Before, After [][2]float64
	done          bool
}

// BeforeFit initialises the layers once (on the Learner's first fit).
func (u *LSUV) BeforeFit(l *Learner) error {
	if u.done || l.Step > 0 {
		return nil
	}
	u.done = true
	tol, iters := u.Tol, u.MaxIters
	if tol == 0 {
		tol = 1e-3
	}
	if iters == 0 {
		iters = 50
	}
	state := l.Data.Train.State()
	b, ok := l.Data.Train.Next()
	if err := l.Data.Train.Restore(state); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("learn: LSUV: the training loader has no batch")
	}
	batch, err := l.Options.Prepare(b, rand.New(rand.NewPCG(l.Options.Seed, 0x15)))
	if err != nil {
		return err
	}
	stats, err := u.statsExec(l, len(batch.Inputs))
	if err != nil {
		return err
	}
	defer stats.Finalize()
	u.Before, u.After = nil, nil
	for i, layer := range u.Layers {
		for it := 0; ; it++ {
			ms, err := layerStats(stats, batch, i)
			if err != nil {
				return err
			}
			if it == 0 {
				u.Before = append(u.Before, ms)
			}
			mean, std := ms[0], ms[1]
			if it == iters || (math.Abs(std-1) < tol && math.Abs(mean) < tol) {
				u.After = append(u.After, ms)
				break
			}
			if !(std > 0) {
				return fmt.Errorf("learn: LSUV: activation %q has std %v: it cannot be scaled to 1", layer.Tap, std)
			}
			if err := rescale(l, layer.Param+".weight", 1/std, 0); err != nil {
				return err
			}
			if err := rescale(l, layer.Param+".bias", 1, -mean); err != nil {
				return err
			}
		}
	}
	return nil
}

// statsExec compiles a forward pass (inference mode) that returns every LSUV layer's activation
// mean and standard deviation.
func (u *LSUV) statsExec(l *Learner, nInputs int) (*model.Exec, error) {
	e, err := model.NewExec(l.be, l.Vars.Store, func(_ *model.Scope, in []*Node) []*Node {
		v := l.Vars
		v.Taps = &module.Taps{}
		l.Model.Forward(v, in[:nInputs])
		var outs []*Node
		for _, layer := range u.Layers {
			x := tapped(v.Taps, layer.Tap)
			mean := ReduceAllMean(x)
			std := Sqrt(ReduceAllMean(Square(Sub(x, mean))))
			outs = append(outs, ConvertDType(mean, dtypes.Float32), ConvertDType(std, dtypes.Float32))
		}
		return outs
	})
	if err != nil {
		return nil, fmt.Errorf("learn: LSUV: %w", err)
	}
	return e, nil
}

// tapped finds the activation tapped as name, or panics naming the taps there are.
func tapped(t *module.Taps, name string) *Node {
	for i, n := range t.Names {
		if n == name {
			return t.Nodes[i]
		}
	}
	panic(fmt.Sprintf("learn: LSUV: the model taps no activation %q (it taps %v)", name, t.Names))
}

// layerStats runs the batch and returns layer i's [mean, std].
func layerStats(e *model.Exec, b Batch, i int) ([2]float64, error) {
	var args []any
	for _, t := range b.Inputs {
		args = append(args, t)
	}
	outs, err := e.Exec(args...)
	if err != nil {
		return [2]float64{}, fmt.Errorf("learn: LSUV: %w", err)
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	mean := tensors.MustCopyFlatData[float32](outs[2*i])[0]
	std := tensors.MustCopyFlatData[float32](outs[2*i+1])[0]
	return [2]float64{float64(mean), float64(std)}, nil
}

// rescale sets the parameter p to p·scale + shift.
func rescale(l *Learner, name string, scale, shift float64) error {
	sp, ok := l.Model.Specs().Lookup(name)
	if !ok {
		return fmt.Errorf("learn: LSUV: the model has no parameter %q", name)
	}
	w, err := module.Values(l.Vars, name)
	if err != nil {
		return err
	}
	for i, x := range w {
		w[i] = float32(float64(x)*scale + shift)
	}
	return module.SetValues(l.Vars, sp, w)
}
