package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
)

func newBackend(t *testing.T) compute.Backend {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatalf("backend.New: %v", err)
	}
	return be
}

// tensorOf makes a tensor of dtype (float32 or float64) from float64 values.
func tensorOf(dtype dtypes.DType, x []float64, dims ...int) *tensors.Tensor {
	if dtype == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), x...), dims...)
	}
	f := make([]float32, len(x))
	for i, v := range x {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// flat reads a float32 or float64 tensor as float64.
func flat(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

// f32 is v as the float32 the training step feeds for a hyper-parameter, back in float64.
func f32(v float64) float64 { return float64(float32(v)) }

// The run every optimizer test takes: two parameters (shapes [2,3] and [3]) over four steps, with
// the learning rate and momentum changing between steps.
var (
	p0s   = [][]float64{{1.5, -0.7, 0.9, -2, 1.1, 0.6}, {-1.2, 0.8, 1.7}}
	dims  = [][]int{{2, 3}, {3}}
	lrs   = []float64{0.05, 0.02, 0.08, 0.01}
	moms  = []float64{0.9, 0.8, 0.95, 0.85}
	gradS = [][]float64{ // per step, both parameters' gradients flattened one after the other
		{0.3, -1.2, 0, 2.5, -0.4, 0.05, 0.7, -0.9, 0.2},
		{-0.5, 0.8, 0.3, 1.9, 0.1, -0.2, 0.6, -1.1, 0.4},
		{0.2, -0.3, -0.6, -0.7, 0.9, 0.4, -0.3, 0.5, 1.3},
		{1.1, 0.4, 0.25, 0.3, -1.5, 0.6, 0.2, -0.1, -0.8},
	}
)

// reference is one optimizer step written out elementwise in float64: it returns the new parameter
// value and state (state has one entry per slot).
type reference func(p, g, lr, mom float64, t int, state []float64) float64

func refSGD(wd float64) reference {
	return func(p, g, lr, _ float64, _ int, _ []float64) float64 { return p - lr*wd*p - lr*g }
}

func refMomentum(wd float64) reference {
	return func(p, g, lr, mom float64, _ int, s []float64) float64 {
		s[0] = mom*s[0] + (1-mom)*g
		return p - lr*wd*p - lr*s[0]
	}
}

func refRMSProp(alpha, eps, wd float64) reference {
	return func(p, g, lr, _ float64, _ int, s []float64) float64 {
		s[0] = alpha*s[0] + (1-alpha)*g*g
		return p - lr*wd*p - lr*g/(math.Sqrt(s[0])+eps)
	}
}

// refAdam follows the pseudo-code of PyTorch's Adam and AdamW documentation.
func refAdam(beta2, eps, wd float64, decoupled bool) reference {
	return func(p, g, lr, beta1 float64, t int, s []float64) float64 {
		if decoupled {
			p -= lr * wd * p
		} else {
			g += wd * p
		}
		s[0] = beta1*s[0] + (1-beta1)*g
		s[1] = beta2*s[1] + (1-beta2)*g*g
		mHat := s[0] / (1 - math.Pow(beta1, float64(t)))
		vHat := s[1] / (1 - math.Pow(beta2, float64(t)))
		return p - lr*mHat/(math.Sqrt(vHat)+eps)
	}
}

// runOptimizer takes the four steps with o through UpdateAll on the backend in dtype and returns the
// parameters and slots, flattened (parameters one after the other; slot k of every parameter one
// after the other). With fixedMom, Hyper.Mom is nil so the optimizer uses its own value.
func runOptimizer(t *testing.T, be compute.Backend, o Optimizer, dtype dtypes.DType, fixedMom bool) (params []float64, slots [][]float64) {
	t.Helper()
	np, ns := len(p0s), len(o.Slots())
	exec, err := NewExec(be, func(in []*Node) []*Node {
		ps, grads := in[:np], in[np:2*np]
		sl := make([][]*Node, np)
		for i := range sl {
			sl[i] = in[2*np+i*ns : 2*np+(i+1)*ns]
		}
		hin := in[2*np+np*ns:]
		h := Hyper{LR: hin[0], Mom: hin[1], Step: hin[2]}
		if fixedMom {
			h.Mom = nil
		}
		newP, newS := UpdateAll(o, ps, grads, sl, h)
		out := append([]*Node(nil), newP...)
		for _, s := range newS {
			if len(s) != ns {
				panic("UpdateAll returned the wrong number of slots")
			}
			out = append(out, s...)
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	state := make([]*tensors.Tensor, np+np*ns)
	for i := range np {
		state[i] = tensorOf(dtype, p0s[i], dims[i]...)
		for k := range ns {
			state[np+i*ns+k] = tensorOf(dtype, make([]float64, len(p0s[i])), dims[i]...)
		}
	}
	for s, g := range gradS {
		args := []any{state[0], state[1]}
		off := 0
		for i := range np {
			n := len(p0s[i])
			args = append(args, tensorOf(dtype, g[off:off+n], dims[i]...))
			off += n
		}
		for _, x := range state[np:] {
			args = append(args, x)
		}
		args = append(args, float32(lrs[s]), float32(moms[s]), float32(s+1))
		out, err := exec.Exec(args...)
		if err != nil {
			t.Fatalf("step %d: %v", s+1, err)
		}
		state = out
	}
	slots = make([][]float64, ns)
	for i := range np {
		params = append(params, flat(t, state[i])...)
		for k := range ns {
			slots[k] = append(slots[k], flat(t, state[np+i*ns+k])...)
		}
	}
	return params, slots
}

// runReference is runOptimizer in float64 with ref.
func runReference(ref reference, nSlots int, fixedMom float64) (params []float64, slots [][]float64) {
	for _, p := range p0s {
		params = append(params, p...)
	}
	slots = make([][]float64, nSlots)
	for k := range slots {
		slots[k] = make([]float64, len(params))
	}
	st := make([]float64, nSlots)
	for s, g := range gradS {
		mom := f32(moms[s])
		if fixedMom != 0 {
			mom = fixedMom
		}
		for i := range params {
			for k := range st {
				st[k] = slots[k][i]
			}
			params[i] = ref(params[i], g[i], f32(lrs[s]), mom, s+1, st)
			for k := range st {
				slots[k][i] = st[k]
			}
		}
	}
	return params, slots
}

func TestOptimizersAgainstFloat64References(t *testing.T) {
	be := newBackend(t)
	cases := []struct {
		name     string
		o        Optimizer
		ref      reference
		fixedMom float64 // when set, Hyper.Mom is nil and the optimizer's own momentum is this
	}{
		{"sgd", SGD{}, refSGD(0), 0},
		{"sgd wd", SGD{LR: 1, WD: 0.5}, refSGD(0.5), 0},
		{"momentum", Momentum{}, refMomentum(0), 0},
		{"momentum wd", Momentum{Mom: 0.5, WD: 0.5}, refMomentum(0.5), 0},
		{"momentum own mom", Momentum{Mom: 0.75}, refMomentum(0), 0.75},
		{"rmsprop", RMSProp{}, refRMSProp(0.99, 1e-8, 0), 0},
		{"rmsprop wd eps", RMSProp{SqrMom: 0.9, Eps: 1e-3, WD: 0.5}, refRMSProp(0.9, 1e-3, 0.5), 0},
		{"adam", Adam{}, refAdam(0.999, 1e-8, 0, false), 0},
		{"adam l2", Adam{WD: 0.5}, refAdam(0.999, 1e-8, 0.5, false), 0},
		{"adamw", AdamW(1e-3, 0.5), refAdam(0.999, 1e-8, 0.5, true), 0},
		{"adamw eps beta2", Adam{Beta2: 0.99, Eps: 1e-3, WD: 0.5, Decoupled: true}, refAdam(0.99, 1e-3, 0.5, true), 0},
		{"adam own beta1", Adam{Beta1: 0.5}, refAdam(0.999, 1e-8, 0, false), 0.5},
	}
	for _, dt := range []struct {
		dtype dtypes.DType
		tol   float64 // relative
	}{{dtypes.Float64, 1e-12}, {dtypes.Float32, 1e-6}} {
		for _, c := range cases {
			t.Run(dt.dtype.String()+"/"+c.name, func(t *testing.T) {
				gotP, gotS := runOptimizer(t, be, c.o, dt.dtype, c.fixedMom != 0)
				wantP, wantS := runReference(c.ref, len(c.o.Slots()), c.fixedMom)
				p0 := append(append([]float64(nil), p0s[0]...), p0s[1]...)
				moved := 0.0
				for i := range wantP {
					moved = math.Max(moved, math.Abs(wantP[i]-p0[i]))
				}
				if moved < 1e-3 {
					t.Fatalf("the reference hardly moves the parameters (%g): the test would prove little", moved)
				}
				compare(t, "parameter", gotP, wantP, dt.tol)
				for k, name := range c.o.Slots() {
					compare(t, "slot "+name, gotS[k], wantS[k], dt.tol)
				}
			})
		}
	}
}

// compare checks |got−want| <= tol·max(|want|, w/10) elementwise, w the largest |want|: relative, except
// that values which cancelled to much less than the rest (a sum of opposite gradients) are held to
// a tenth of the largest value's scale.
func compare(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	floor := 0.0
	for _, w := range want {
		floor = math.Max(floor, math.Abs(w)/10)
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*math.Max(math.Abs(want[i]), floor)) {
			t.Errorf("%s %d: got %.12g, want %.12g (relative error %.2g, tolerance %.0g)", what, i, got[i], want[i], d/math.Abs(want[i]), tol)
		}
	}
}

func TestOptimizerFacts(t *testing.T) {
	for _, c := range []struct {
		o       Optimizer
		name    string
		slots   string
		lr, mom float64
	}{
		{SGD{LR: 0.1}, "sgd", "", 0.1, 0},
		{Momentum{LR: 0.1}, "momentum", "avg", 0.1, 0.9},
		{Momentum{LR: 0.1, Mom: 0.5}, "momentum", "avg", 0.1, 0.5},
		{RMSProp{LR: 0.01}, "rmsprop", "sq", 0.01, 0},
		{Adam{LR: 3e-3}, "adam", "m,v", 3e-3, 0.9},
		{AdamW(1e-3, 0.01), "adamw", "m,v", 1e-3, 0.9},
	} {
		lr, mom := c.o.Defaults()
		if c.o.Name() != c.name || strings.Join(c.o.Slots(), ",") != c.slots || lr != c.lr || mom != c.mom {
			t.Errorf("%#v: Name %q Slots %v Defaults (%v, %v); want %q [%s] (%v, %v)",
				c.o, c.o.Name(), c.o.Slots(), lr, mom, c.name, c.slots, c.lr, c.mom)
		}
		if err := Validate(c.o); err != nil {
			t.Errorf("%#v: %v", c.o, err)
		}
	}
	if w := AdamW(1e-3, 0.01); w != (Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WD: 0.01, Decoupled: true}) {
		t.Errorf("AdamW(1e-3, 0.01) = %+v", w)
	}
	for _, c := range []struct {
		o    Optimizer
		want string
	}{
		{SGD{LR: -1}, "optim.SGD: LR = -1"},
		{Momentum{Mom: 1}, "optim.Momentum: Mom = 1"},
		{RMSProp{SqrMom: -0.5}, "optim.RMSProp: SqrMom = -0.5"},
		{RMSProp{Eps: -1}, "optim.RMSProp: Eps = -1"},
		{Adam{Beta2: 1.5}, "optim.Adam: Beta2 = 1.5"},
		{AdamW(1e-3, math.NaN()), "optim.AdamW: WD = NaN"},
	} {
		if err := Validate(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", c.o, err, c.want)
		}
	}
}

// TestUpdateErrors checks that a misuse inside the graph comes back from Exec as an error naming it.
func TestUpdateErrors(t *testing.T) {
	be := newBackend(t)
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2)
	for _, c := range []struct {
		name string
		f    func(p, g *Node) *Node
		want string
	}{
		{"no step", func(p, g *Node) *Node {
			np, _ := Adam{}.Update(p, g, []*Node{ZerosLike(p), ZerosLike(p)}, Hyper{LR: Const(p.Graph(), float32(0.1))})
			return np
		}, "Hyper.Step is nil"},
		{"no lr", func(p, g *Node) *Node { np, _ := SGD{}.Update(p, g, nil, Hyper{}); return np }, "Hyper.LR is nil"},
		{"slots", func(p, g *Node) *Node {
			np, _ := Momentum{}.Update(p, g, nil, Hyper{LR: Const(p.Graph(), float32(0.1))})
			return np
		}, "got 0 slots, want 1 [avg]"},
		{"invalid", func(p, g *Node) *Node {
			np, _ := Momentum{Mom: 2}.Update(p, g, []*Node{ZerosLike(p)}, Hyper{LR: Const(p.Graph(), float32(0.1))})
			return np
		}, "Mom = 2"},
		{"clip", func(p, g *Node) *Node { return ClipGradNorm([]*Node{g}, 0)[0] }, "maxNorm = 0"},
	} {
		_, err := ExecOnce(be, c.f, x, x)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	be := newBackend(t)
	a, b := []float64{3, -4, 1, 2}, []float64{0.5, -6}
	norm := math.Sqrt(9 + 16 + 1 + 4 + 0.25 + 36)
	for _, dt := range []struct {
		dtype dtypes.DType
		tol   float64
	}{{dtypes.Float64, 1e-12}, {dtypes.Float32, 1e-6}} {
		for _, maxNorm := range []float64{2, 100} {
			out, err := ExecOnceN(be, func(a, b *Node) []*Node {
				c := ClipGradNorm([]*Node{a, b}, maxNorm)
				return []*Node{c[0], c[1], GlobalNorm([]*Node{a, b}), GlobalNorm(c)}
			}, tensorOf(dt.dtype, a, 2, 2), tensorOf(dt.dtype, b, 2))
			if err != nil {
				t.Fatal(err)
			}
			// PyTorch: factor = maxNorm/(norm + 1e-6), clamped to at most 1.
			f := math.Min(1, maxNorm/(norm+1e-6))
			var wantA, wantB []float64
			for _, v := range a {
				wantA = append(wantA, v*f)
			}
			for _, v := range b {
				wantB = append(wantB, v*f)
			}
			name := dt.dtype.String() + " maxNorm " + strings.TrimRight(strings.TrimRight(tensors.FromValue(maxNorm).String(), "0"), ".")
			compare(t, name+" clipped a", flat(t, out[0]), wantA, dt.tol)
			compare(t, name+" clipped b", flat(t, out[1]), wantB, dt.tol)
			compare(t, name+" GlobalNorm", flat(t, out[2]), []float64{norm}, dt.tol)
			compare(t, name+" norm after clipping", flat(t, out[3]), []float64{math.Min(norm, maxNorm)}, 1e-6)
		}
	}
	// All-zero gradients stay zero (no 0/0).
	out, err := ExecOnce(be, func(g *Node) *Node { return ClipGradNorm([]*Node{g}, 1)[0] }, tensorOf(dtypes.Float32, []float64{0, 0}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(t, out); got[0] != 0 || got[1] != 0 {
		t.Errorf("clipping zero gradients gave %v", got)
	}
}

func TestEMA(t *testing.T) {
	for _, c := range []struct {
		step      int
		max, want float64
	}{{1, 0.999, 2.0 / 11}, {8, 0.999, 0.5}, {90, 0.999, 0.91}, {100000, 0.999, 0.999}, {90, 0.9, 0.9}} {
		if got := EMADecay(c.step, c.max); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("EMADecay(%d, %v) = %v, want %v", c.step, c.max, got, c.want)
		}
	}
	be := newBackend(t)
	exec, err := NewExec(be, EMAUpdate)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	weights := [][]float64{{1, -2, 3}, {0.5, 0.5, 0.5}, {-1, 4, 0}}
	want := []float64{10, 20, 30}
	ema := tensorOf(dtypes.Float64, want, 3)
	for s, w := range weights {
		d := EMADecay(s+1, 0.999)
		for i := range want {
			want[i] = d*want[i] + (1-d)*w[i]
		}
		out, err := exec.Exec(ema, tensorOf(dtypes.Float64, w, 3), d)
		if err != nil {
			t.Fatal(err)
		}
		ema = out[0]
	}
	compare(t, "EMA after 3 steps", flat(t, ema), want, 1e-12)
}

// TestAdamLateSteps takes one float32 Adam step late in training, where β1^t underflows float32
// (t·ln 0.9 < −104 from t = 987): the bias corrections are then exactly 1, and the step is the
// plain lr·m/(√v + eps). An engine whose Expm1 returned 0 there made every weight Inf.
func TestAdamLateSteps(t *testing.T) {
	be := newBackend(t)
	exec, err := NewExec(be, func(in []*Node) []*Node {
		np, slots := AdamW(0, 0).Update(in[0], in[1], []*Node{in[2], in[3]}, Hyper{LR: in[4], Mom: in[5], Step: in[6]})
		return append([]*Node{np}, slots...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	for _, step := range []float32{986, 987, 1000, 5000, 1e6} {
		outs, err := exec.Exec(tensorOf(dtypes.Float32, []float64{1}, 1), tensorOf(dtypes.Float32, []float64{0.5}, 1),
			tensorOf(dtypes.Float32, []float64{0.2}, 1), tensorOf(dtypes.Float32, []float64{0.04}, 1),
			float32(0.01), float32(0.9), step)
		if err != nil {
			t.Fatal(err)
		}
		m, v := 0.9*0.2+0.1*0.5, 0.999*0.04+0.001*0.25
		bc1, bc2 := -math.Expm1(float64(step)*math.Log(0.9)), -math.Expm1(float64(step)*math.Log(0.999))
		want := 1 - 0.01/bc1*m/(math.Sqrt(v)/math.Sqrt(bc2)+1e-8)
		if got := flat(t, outs[0])[0]; math.IsNaN(got) || math.Abs(got-want) > 1e-6 {
			t.Errorf("Adam step %g: parameter 1 → %g, want %g", step, got, want)
		}
	}
}
