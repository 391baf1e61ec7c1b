package learn

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/nn/module"
)

// Event is a point in Fit where callbacks run. Each level (fit, epoch, batch) has a Before, an
// After and a Cleanup event, in that order; Cleanup runs even when the level was cancelled or
// failed, like a finally block.
type Event int

const (
	BeforeFit Event = iota
	AfterFit
	CleanupFit
	BeforeEpoch
	AfterEpoch
	CleanupEpoch
	BeforeBatch
	AfterBatch
	CleanupBatch
)

var eventNames = [...]string{"BeforeFit", "AfterFit", "CleanupFit", "BeforeEpoch", "AfterEpoch",
	"CleanupEpoch", "BeforeBatch", "AfterBatch", "CleanupBatch"}

func (e Event) String() string { return eventNames[e] }

// Callback is any value with one or more of the methods below, which Fit calls at their event:
//
//	BeforeFit(*Learner) error     AfterFit(*Learner) error     CleanupFit(*Learner) error
//	BeforeEpoch(*Learner) error   AfterEpoch(*Learner) error   CleanupEpoch(*Learner) error
//	BeforeBatch(*Learner) error   AfterBatch(*Learner) error   CleanupBatch(*Learner) error
//
// and optionally Order() int (lower runs first; 0 when absent), GraphLoss, GraphGrads and
// GraphOutputs. Returning ErrCancelBatch, ErrCancelEpoch or ErrCancelFit cancels that level.
type Callback any

// Ordered callbacks say where they run among the others.
type Ordered interface{ Order() int }

// GraphLoss callbacks change the loss while the training step's graph is built (a penalty,
// a scale).
type GraphLoss interface {
	GraphLoss(l *Learner, loss *graph.Node) *graph.Node
}

// GraphGrads callbacks change the gradients (in Learner.Trainable order) while the training
// step's graph is built, e.g. clipping.
type GraphGrads interface {
	GraphGrads(l *Learner, grads []*graph.Node) []*graph.Node
}

// GraphOutputs callbacks compute extra values inside the training step from the activations the
// model tapped (module.Vars.Tap), and receive them after every training batch.
type GraphOutputs interface {
	GraphOutputs(l *Learner, taps *module.Taps) []*graph.Node
	ReceiveOutputs(l *Learner, values []*tensors.Tensor) error
}

// order is a callback's Order, 0 if it has none.
func order(cb Callback) int {
	if o, ok := cb.(Ordered); ok {
		return o.Order()
	}
	return 0
}

// sorted returns the callbacks by Order, keeping the given order among equals.
func sorted(cbs []Callback) []Callback {
	out := slices.Clone(cbs)
	slices.SortStableFunc(out, func(a, b Callback) int { return cmp.Compare(order(a), order(b)) })
	return out
}

// fire calls every callback that handles event e, in order; the first error stops it.
func (l *Learner) fire(e Event) error {
	for _, cb := range sorted(l.Callbacks) {
		if err := call(cb, e, l); err != nil {
			return err
		}
	}
	return nil
}

// call invokes cb's method named after e (BeforeFit, AfterBatch, ...), if it has one: the Go
// counterpart of Python's getattr(cb, name).
func call(cb Callback, e Event, l *Learner) error {
	m := reflect.ValueOf(cb).MethodByName(e.String())
	if !m.IsValid() {
		return nil
	}
	f, ok := m.Interface().(func(*Learner) error)
	if !ok {
		return fmt.Errorf("learn: callback %T has a method %s of type %s, want func(*Learner) error", cb, e, m.Type())
	}
	return f(l)
}
