package learn

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

// runStep runs the batch through the compiled training or validation step, compiling it first
// if needed. Outputs: the loss, the predictions, then the GraphOutputs callbacks' values.
func (l *Learner) runStep() ([]*tensors.Tensor, error) {
	if !slices.Equal(l.graphCBs, l.graphCallbacks()) {
		l.releaseExecs() // the callbacks that shape the graph changed
	}
	var args []any
	exec := l.evalExec
	if l.Training {
		if l.trainExec == nil {
			l.graphCBs = l.graphCallbacks()
			e, err := model.NewExec(l.be, l.Vars.Store, l.trainGraph)
			if err != nil {
				return nil, fmt.Errorf("learn: building the training step: %w", err)
			}
			l.trainExec = e
		}
		exec = l.trainExec
		ema := 0.0
		if l.Options.EMA > 0 {
			ema = optim.EMADecay(l.Step+1, l.Options.EMA)
		}
		args = append(args, float32(l.LR), float32(l.Mom), float32(l.Step+1), float32(ema))
	} else if exec == nil {
		e, err := model.NewExec(l.be, l.Vars.Store, l.evalGraph)
		if err != nil {
			return nil, fmt.Errorf("learn: building the validation step: %w", err)
		}
		l.evalExec, exec = e, e
	}
	for _, t := range l.Batch.Inputs {
		args = append(args, t)
	}
	for _, t := range l.Batch.Targets {
		args = append(args, t)
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("learn: step %d (epoch %d, batch %d): %w", l.Step+1, l.Epoch, l.Iter, err)
	}
	return outs, nil
}

// graphCallbacks are the callbacks that take part in building the training step.
func (l *Learner) graphCallbacks() []Callback {
	var out []Callback
	for _, cb := range sorted(l.Callbacks) {
		switch cb.(type) {
		case GraphLoss, GraphGrads, GraphOutputs:
			out = append(out, cb)
		}
	}
	return out
}

// releaseExecs frees the compiled steps (they are rebuilt on the next batch).
func (l *Learner) releaseExecs() {
	for _, e := range []**model.Exec{&l.trainExec, &l.evalExec} {
		if *e != nil {
			(*e).Finalize()
			*e = nil
		}
	}
	l.graphCBs = nil
}

// Close frees the compiled steps and the predictions kept for callbacks.
func (l *Learner) Close() {
	l.releaseExecs()
	if l.Preds != nil {
		l.Preds.FinalizeAll()
		l.Preds = nil
	}
}

// split separates a step's graph inputs into the batch's inputs and targets.
func (l *Learner) split(in []*graph.Node) (inputs, targets []*graph.Node) {
	n := len(l.Batch.Inputs)
	return in[:n], in[n:]
}

// evalGraph is the validation step: the loss and predictions with inference-mode layers.
func (l *Learner) evalGraph(_ *model.Scope, in []*graph.Node) []*graph.Node {
	xs, ys := l.split(in)
	pred := l.Model.Forward(l.Vars, xs)
	return []*graph.Node{l.Loss(pred, ys), pred}
}

// trainGraph is the training step: forward pass, loss, gradients and the optimizer's update of
// every trainable parameter, written back to the store by the model.Exec that runs it.
func (l *Learner) trainGraph(_ *model.Scope, in []*graph.Node) []*graph.Node {
	g := in[0].Graph()
	h := optim.Hyper{LR: in[0], Mom: in[1], Step: in[2]}
	emaDecay := in[3]
	xs, ys := l.split(in[4:])
	v := l.Vars
	v.Train, v.Taps = true, &module.Taps{}
	pred := l.Model.Forward(v, xs)
	loss := l.Loss(pred, ys)
	for _, cb := range l.graphCBs {
		if c, ok := cb.(GraphLoss); ok {
			loss = c.GraphLoss(l, loss)
		}
	}
	specs := l.Trainable()
	params := make([]*graph.Node, len(specs))
	for i, sp := range specs {
		params[i] = v.Node(g, sp.Name)
	}
	grads := graph.Gradient(loss, params...)
	for _, cb := range l.graphCBs {
		if c, ok := cb.(GraphGrads); ok {
			grads = c.GraphGrads(l, grads)
		}
	}
	for i, sp := range specs {
		slots := make([]*graph.Node, len(l.Opt.Slots()))
		for j, s := range l.Opt.Slots() {
			slots[j] = l.slotVars(s).Node(g, sp.Name)
		}
		p, newSlots := l.Opt.Update(params[i], grads[i], slots, h)
		v.SetNode(sp.Name, p)
		for j, s := range l.Opt.Slots() {
			l.slotVars(s).SetNode(sp.Name, newSlots[j])
		}
	}
	if l.Options.EMA > 0 {
		ema := l.EMAVars()
		for _, sp := range l.Model.Specs().List() {
			ema.SetNode(sp.Name, optim.EMAUpdate(ema.Node(g, sp.Name), v.Node(g, sp.Name), emaDecay))
		}
	}
	outs := []*graph.Node{loss, pred}
	l.extras = make([][2]int, len(l.graphCBs))
	for i, cb := range l.graphCBs {
		start := len(outs)
		if c, ok := cb.(GraphOutputs); ok {
			outs = append(outs, c.GraphOutputs(l, v.Taps)...)
		}
		l.extras[i] = [2]int{start, len(outs)}
	}
	return outs
}
