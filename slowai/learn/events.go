package learn

import (
	"cmp"
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

// call invokes cb's method for e, if it has one.
func call(cb Callback, e Event, l *Learner) error {
	type (
		beforeFit    interface{ BeforeFit(*Learner) error }
		afterFit     interface{ AfterFit(*Learner) error }
		cleanupFit   interface{ CleanupFit(*Learner) error }
		beforeEpoch  interface{ BeforeEpoch(*Learner) error }
		afterEpoch   interface{ AfterEpoch(*Learner) error }
		cleanupEpoch interface{ CleanupEpoch(*Learner) error }
		beforeBatch  interface{ BeforeBatch(*Learner) error }
		afterBatch   interface{ AfterBatch(*Learner) error }
		cleanupBatch interface{ CleanupBatch(*Learner) error }
	)
	var method func(*Learner) error
	switch e {
	case BeforeFit:
		if c, ok := cb.(beforeFit); ok {
			method = c.BeforeFit
		}
	case AfterFit:
		if c, ok := cb.(afterFit); ok {
			method = c.AfterFit
		}
	case CleanupFit:
		if c, ok := cb.(cleanupFit); ok {
			method = c.CleanupFit
		}
	case BeforeEpoch:
		if c, ok := cb.(beforeEpoch); ok {
			method = c.BeforeEpoch
		}
	case AfterEpoch:
		if c, ok := cb.(afterEpoch); ok {
			method = c.AfterEpoch
		}
	case CleanupEpoch:
		if c, ok := cb.(cleanupEpoch); ok {
			method = c.CleanupEpoch
		}
	case BeforeBatch:
		if c, ok := cb.(beforeBatch); ok {
			method = c.BeforeBatch
		}
	case AfterBatch:
		if c, ok := cb.(afterBatch); ok {
			method = c.AfterBatch
		}
	case CleanupBatch:
		if c, ok := cb.(cleanupBatch); ok {
			method = c.CleanupBatch
		}
	}
	if method == nil {
		return nil
	}
	return method(l)
}
