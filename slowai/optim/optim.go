package optim

import (
	"fmt"
	"math"
	"slices"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Hyper are one step's hyper-parameters as scalar graph nodes (float32, as the training step feeds
// them); Update converts them to the parameter's dtype.
type Hyper struct {
	LR   *Node // learning rate
	Mom  *Node // momentum; Adam's beta1 (so one-cycle can cycle it). Nil: the optimizer's own value.
	Step *Node // 1-based count of the step being taken, for Adam's bias correction
}

// Optimizer updates one parameter inside the step.
type Optimizer interface {
	// Name is the optimizer's short name, e.g. "adamw".
	Name() string
	// Slots names the per-parameter state tensors the optimizer keeps, each shaped like the parameter
	// and starting at zero, e.g. {"m", "v"}; nil for plain SGD. Update takes and returns them in
	// this order.
	Slots() []string
	// Update returns the parameter and its slots after one step with gradient grad.
	// It panics (a GoMLX exception, which NewExec and Exec return as an error) on an invalid
	// configuration, a missing hyper-parameter or slots that do not match Slots.
	Update(p, grad *Node, slots []*Node, h Hyper) (newP *Node, newSlots []*Node)
	// Defaults are the host-side learning rate and momentum to feed as Hyper when no schedule sets
	// them (momentum 0 for optimizers that have none).
	Defaults() (lr, mom float64)
}

// Default values taken by zero fields.
const (
	DefaultMom    = 0.9   // Momentum.Mom and Adam.Beta1
	DefaultBeta2  = 0.999 // Adam.Beta2
	DefaultSqrMom = 0.99  // RMSProp.SqrMom
	DefaultEps    = 1e-8  // RMSProp.Eps and Adam.Eps
)

// SGD is plain stochastic gradient descent with decoupled weight decay:
// p ← p·(1−lr·wd) − lr·g. It keeps no state and ignores Hyper.Mom.
type SGD struct{ LR, WD float64 }

// Momentum is SGD on an exponential moving average of the gradients (fast.ai lesson 10's form, the
// average weighted by 1−μ so that it stays the size of one gradient):
// avg ← μ·avg + (1−μ)·g, p ← p·(1−lr·wd) − lr·avg. Mom 0 means DefaultMom. Slot: "avg".
type Momentum struct{ LR, Mom, WD float64 }

// RMSProp divides the gradient by the root of a moving average of its square:
// sq ← α·sq + (1−α)·g², p ← p·(1−lr·wd) − lr·g/(√sq + eps), with α = SqrMom.
// The average starts at zero (no bias correction). SqrMom 0 means DefaultSqrMom, Eps 0 DefaultEps.
// It ignores Hyper.Mom. Slot: "sq".
type RMSProp struct{ LR, SqrMom, Eps, WD float64 }

// Adam is Adam with PyTorch's semantics, bias-corrected with Hyper.Step = t:
//
//	g ← g + wd·p                            (Decoupled false: L2 penalty in the gradient)
//	p ← p·(1−lr·wd)                         (Decoupled true: AdamW's decoupled decay)
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1^t) · m/(√v/√(1−β2^t) + eps)
//
// β1 is Hyper.Mom when set (so it can follow a momentum schedule; the bias correction uses the
// current β1). Zero fields take DefaultMom, DefaultBeta2, DefaultEps. Slots: "m", "v".
type Adam struct {
	LR, Beta1, Beta2, Eps, WD float64
	Decoupled                 bool
}

// AdamW is Adam with decoupled weight decay wd and the default betas (0.9, 0.999) and eps (1e-8).
func AdamW(lr, wd float64) Adam {
	return Adam{LR: lr, Beta1: DefaultMom, Beta2: DefaultBeta2, Eps: DefaultEps, WD: wd, Decoupled: true}
}

// Validate reports an optimizer whose fields (after defaults) are out of range. Optimizers without
// a Validate method are taken as valid.
func Validate(o Optimizer) error {
	if v, ok := o.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// UpdateAll updates every parameter: slots[i] are parameter i's slots in Slots order (nil or empty
// for an optimizer without slots). It returns the new parameters and slots in the same layout.
func UpdateAll(o Optimizer, params, grads []*Node, slots [][]*Node, h Hyper) ([]*Node, [][]*Node) {
	if len(grads) != len(params) {
		exceptions.Panicf("optim.UpdateAll: %d gradients for %d parameters", len(grads), len(params))
	}
	if len(slots) != len(params) && !(len(slots) == 0 && len(o.Slots()) == 0) {
		exceptions.Panicf("optim.UpdateAll: slots for %d parameters, want %d (one []*Node per parameter)", len(slots), len(params))
	}
	newP := make([]*Node, len(params))
	newS := make([][]*Node, len(params))
	for i := range params {
		var s []*Node
		if len(slots) > 0 {
			s = slots[i]
		}
		newP[i], newS[i] = o.Update(params[i], grads[i], s, h)
	}
	return newP, newS
}

// Name is "sgd".
func (SGD) Name() string { return "sgd" }

// Slots is nil: SGD keeps no state.
func (SGD) Slots() []string { return nil }

// Defaults returns LR and momentum 0.
func (o SGD) Defaults() (lr, mom float64) { return o.LR, 0 }

// Validate checks LR >= 0 and WD >= 0.
func (o SGD) Validate() error { return checkLRWD("optim.SGD", o.LR, o.WD) }

// Update takes one SGD step.
func (o SGD) Update(p, grad *Node, slots []*Node, h Hyper) (*Node, []*Node) {
	check(o, p, grad, slots, h.LR)
	lr := like(h.LR, p)
	return Sub(decay(p, lr, o.WD), Mul(lr, like(grad, p))), nil
}

// Name is "momentum".
func (Momentum) Name() string { return "momentum" }

// Slots is {"avg"}, the moving average of the gradient.
func (Momentum) Slots() []string { return []string{"avg"} }

func (o Momentum) withDefaults() Momentum {
	if o.Mom == 0 {
		o.Mom = DefaultMom
	}
	return o
}

// Defaults returns LR and Mom (DefaultMom if zero).
func (o Momentum) Defaults() (lr, mom float64) { return o.LR, o.withDefaults().Mom }

// Validate checks LR, WD >= 0 and Mom in [0, 1).
func (o Momentum) Validate() error {
	o = o.withDefaults()
	if err := checkLRWD("optim.Momentum", o.LR, o.WD); err != nil {
		return err
	}
	return checkFrac("optim.Momentum", "Mom", o.Mom, true)
}

// Update takes one momentum step; Hyper.Mom, when set, replaces Mom.
func (o Momentum) Update(p, grad *Node, slots []*Node, h Hyper) (*Node, []*Node) {
	o = o.withDefaults()
	check(o, p, grad, slots, h.LR)
	lr, mom, g := like(h.LR, p), momOf(h, o.Mom, p), like(grad, p)
	avg := Add(Mul(mom, slots[0]), Mul(OneMinus(mom), g))
	return Sub(decay(p, lr, o.WD), Mul(lr, avg)), []*Node{avg}
}

// Name is "rmsprop".
func (RMSProp) Name() string { return "rmsprop" }

// Slots is {"sq"}, the moving average of the squared gradient.
func (RMSProp) Slots() []string { return []string{"sq"} }

func (o RMSProp) withDefaults() RMSProp {
	if o.SqrMom == 0 {
		o.SqrMom = DefaultSqrMom
	}
	if o.Eps == 0 {
		o.Eps = DefaultEps
	}
	return o
}

// Defaults returns LR and momentum 0 (RMSProp has none; SqrMom is fixed).
func (o RMSProp) Defaults() (lr, mom float64) { return o.LR, 0 }

// Validate checks LR, WD >= 0, SqrMom in (0, 1) and Eps > 0.
func (o RMSProp) Validate() error {
	o = o.withDefaults()
	if err := checkLRWD("optim.RMSProp", o.LR, o.WD); err != nil {
		return err
	}
	if err := checkFrac("optim.RMSProp", "SqrMom", o.SqrMom, false); err != nil {
		return err
	}
	return checkEps("optim.RMSProp", o.Eps)
}

// Update takes one RMSProp step.
func (o RMSProp) Update(p, grad *Node, slots []*Node, h Hyper) (*Node, []*Node) {
	o = o.withDefaults()
	check(o, p, grad, slots, h.LR)
	lr, g := like(h.LR, p), like(grad, p)
	sq := Add(MulScalar(slots[0], o.SqrMom), MulScalar(Square(g), 1-o.SqrMom))
	step := Div(g, AddScalar(Sqrt(sq), o.Eps))
	return Sub(decay(p, lr, o.WD), Mul(lr, step)), []*Node{sq}
}

// Name is "adamw" when Decoupled, else "adam".
func (o Adam) Name() string {
	if o.Decoupled {
		return "adamw"
	}
	return "adam"
}

// Slots is {"m", "v"}: the moving averages of the gradient and of its square.
func (Adam) Slots() []string { return []string{"m", "v"} }

func (o Adam) withDefaults() Adam {
	if o.Beta1 == 0 {
		o.Beta1 = DefaultMom
	}
	if o.Beta2 == 0 {
		o.Beta2 = DefaultBeta2
	}
	if o.Eps == 0 {
		o.Eps = DefaultEps
	}
	return o
}

// Defaults returns LR and Beta1 (DefaultMom if zero).
func (o Adam) Defaults() (lr, mom float64) { return o.LR, o.withDefaults().Beta1 }

// Validate checks LR, WD >= 0, Beta1 in [0, 1), Beta2 in (0, 1) and Eps > 0.
func (o Adam) Validate() error {
	o = o.withDefaults()
	name := "optim." + map[bool]string{false: "Adam", true: "AdamW"}[o.Decoupled]
	if err := checkLRWD(name, o.LR, o.WD); err != nil {
		return err
	}
	if err := checkFrac(name, "Beta1", o.Beta1, true); err != nil {
		return err
	}
	if err := checkFrac(name, "Beta2", o.Beta2, false); err != nil {
		return err
	}
	return checkEps(name, o.Eps)
}

// Update takes one Adam step; Hyper.Mom, when set, replaces Beta1.
func (o Adam) Update(p, grad *Node, slots []*Node, h Hyper) (*Node, []*Node) {
	o = o.withDefaults()
	check(o, p, grad, slots, h.LR)
	if h.Step == nil {
		exceptions.Panicf("%s.Update: Hyper.Step is nil; Adam needs the 1-based step count for its bias correction", o.Name())
	}
	lr, beta1, g := like(h.LR, p), momOf(h, o.Beta1, p), like(grad, p)
	if !o.Decoupled && o.WD != 0 {
		g = Add(g, MulScalar(p, o.WD))
	}
	m := Add(Mul(beta1, slots[0]), Mul(OneMinus(beta1), g))
	v := Add(MulScalar(slots[1], o.Beta2), MulScalar(Square(g), 1-o.Beta2))
	// 1−β^t = −expm1(t·ln β) keeps its precision in float32 when β^t is close to 1 (β2 early on),
	// where 1 − Pow(β, t) would lose most digits.
	t := like(h.Step, p)
	bc1 := Neg(Expm1(Mul(t, Log(beta1))))
	bc2 := Neg(Expm1(MulScalar(t, math.Log(o.Beta2))))
	stepSize := Div(lr, bc1)
	denom := AddScalar(Div(Sqrt(v), Sqrt(bc2)), o.Eps)
	base := p
	if o.Decoupled {
		base = decay(p, lr, o.WD)
	}
	return Sub(base, Mul(stepSize, Div(m, denom))), []*Node{m, v}
}

// like converts a hyper-parameter or gradient node to p's dtype.
func like(x, p *Node) *Node { return ConvertDType(x, p.DType()) }

// momOf is Hyper.Mom in p's dtype, or the constant def when it is not set.
func momOf(h Hyper, def float64, p *Node) *Node {
	if h.Mom == nil {
		return Scalar(p.Graph(), p.DType(), def)
	}
	return like(h.Mom, p)
}

// decay is decoupled weight decay p·(1−lr·wd); p itself when wd is 0.
func decay(p, lr *Node, wd float64) *Node {
	if wd == 0 {
		return p
	}
	return Mul(p, OneMinus(MulScalar(lr, wd)))
}

// check panics with a clear message on an invalid optimizer or inputs to Update.
func check(o Optimizer, p, grad *Node, slots []*Node, lr *Node) {
	name := o.Name()
	if err := Validate(o); err != nil {
		exceptions.Panicf("%v", err)
	}
	if p == nil || grad == nil {
		exceptions.Panicf("optim %s.Update: parameter or gradient is nil", name)
	}
	if !p.DType().IsFloat() {
		exceptions.Panicf("optim %s.Update: parameter has dtype %s, want a float", name, p.DType())
	}
	if !slices.Equal(grad.Shape().Dimensions, p.Shape().Dimensions) {
		exceptions.Panicf("optim %s.Update: gradient shape %s differs from parameter shape %s", name, grad.Shape(), p.Shape())
	}
	if lr == nil {
		exceptions.Panicf("optim %s.Update: Hyper.LR is nil", name)
	}
	want := o.Slots()
	if len(slots) != len(want) {
		exceptions.Panicf("optim %s.Update: got %d slots, want %d %v", name, len(slots), len(want), want)
	}
	for i, s := range slots {
		if s == nil || !s.Shape().Equal(p.Shape()) {
			exceptions.Panicf("optim %s.Update: slot %q must be shaped like the parameter %s, got %v", name, want[i], p.Shape(), shapeOf(s))
		}
	}
}

func shapeOf(n *Node) any {
	if n == nil {
		return "nil"
	}
	return n.Shape()
}

func checkLRWD(name string, lr, wd float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("%s: LR = %v, want a finite value >= 0", name, lr)
	}
	if !(wd >= 0) || math.IsInf(wd, 0) {
		return fmt.Errorf("%s: WD = %v, want a finite value >= 0", name, wd)
	}
	return nil
}

// checkFrac checks 0 <= v < 1 (0 < v < 1 unless zeroOK).
func checkFrac(name, field string, v float64, zeroOK bool) error {
	if !(v >= 0 && v < 1) || (!zeroOK && v == 0) {
		lo := "(0"
		if zeroOK {
			lo = "[0"
		}
		return fmt.Errorf("%s: %s = %v, want a value in %s, 1)", name, field, v, lo)
	}
	return nil
}

func checkEps(name string, eps float64) error {
	if !(eps > 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("%s: Eps = %v, want a finite value > 0", name, eps)
	}
	return nil
}
