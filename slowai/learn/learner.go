// Package learn is the course's one training loop: a Learner that fits a model with an optimizer
// over a pair of data loaders, and lets callbacks do everything else — metrics, progress bars,
// learning-rate schedules, checkpoints, activation statistics, the learning-rate finder.
//
// It follows the Learner of fast.ai's miniai (lesson 07): Fit runs epochs of batches, and around
// the fit, each epoch and each batch it fires "before", "after" and "cleanup" events to its
// callbacks, sorted by their Order. A callback cancels a batch, an epoch or the whole fit by
// returning ErrCancelBatch, ErrCancelEpoch or ErrCancelFit. Unlike PyTorch's loop, the forward
// pass, the loss, the gradients and the optimizer's update are compiled into one graph per step,
// so callbacks that change what happens inside the step (the loss, the gradients, extra
// statistics) do it while that graph is built: see GraphLoss, GraphGrads and GraphOutputs.
package learn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

// Model is what a Learner trains: parameters declared as Specs and a forward pass from the
// batch's inputs to predictions.
type Model interface {
	Specs() *module.Specs
	Forward(v module.Vars, inputs []*graph.Node) *graph.Node
}

// Net makes a Model of one layer (a module.Sequential, say) applied to the batch's first input.
func Net(specs *module.Specs, layer module.Layer) Model { return net{specs, layer} }

type net struct {
	specs *module.Specs
	layer module.Layer
}

func (n net) Specs() *module.Specs { return n.specs }
func (n net) Forward(v module.Vars, in []*graph.Node) *graph.Node {
	return n.layer.Apply(v, in[0])
}

// LossFunc computes the scalar loss of a batch from the model's predictions and the batch's
// targets.
type LossFunc func(pred *graph.Node, targets []*graph.Node) *graph.Node

// Batch is what one step consumes: the model's inputs and the loss's targets, plus the host
// batch they came from (labels, indices) for callbacks.
type Batch struct {
	Inputs, Targets []*tensors.Tensor
	Host            *data.Batch
}

// PrepareFunc turns a loader's batch into a step's Batch. It may draw random numbers (the noise
// of a diffusion model) from rng, the Learner's generator, whose state checkpoints keep.
type PrepareFunc func(b *data.Batch, rng *rand.Rand) (Batch, error)

// ImagesAndLabels is the default PrepareFunc: the images are the input, the labels the target.
func ImagesAndLabels(b *data.Batch, _ *rand.Rand) (Batch, error) {
	x, y := b.Tensors()
	return Batch{Inputs: []*tensors.Tensor{x}, Targets: []*tensors.Tensor{y}, Host: b}, nil
}

// Options are a Learner's settings that have defaults.
type Options struct {
	Backend compute.Backend // the engine; backend.New() when nil
	Seed    uint64          // the initial weights and the Learner's generator
	Prepare PrepareFunc     // ImagesAndLabels when nil
	// EMA, when > 0, keeps an exponential moving average of the weights with decay
	// optim.EMADecay(step, EMA), updated inside every step (diffusion models sample with it).
	EMA float64
}

// Learner trains a Model. Its exported fields are the state callbacks read and change.
type Learner struct {
	Model     Model
	Data      data.Loaders
	Loss      LossFunc
	Opt       optim.Optimizer
	Callbacks []Callback
	Options   Options
	Vars      module.Vars // the parameters, in Vars.Store with the optimizer's slots and the EMA

	Epoch    int     // the current epoch, counted from 0 over every Fit
	Step     int     // optimizer steps taken, over every Fit
	Iter     int     // the batch's index within the current epoch
	Training bool    // true in the training half of an epoch, false in validation
	Batch    Batch   // the current batch
	LR, Mom  float64 // hyper-parameters of the next step: schedules set them in BeforeBatch
	// LossValue and Preds are the current batch's loss and predictions, set after it runs.
	LossValue float64
	Preds     *tensors.Tensor

	be        compute.Backend
	rng       *rand.PCG
	trainExec *model.Exec
	evalExec  *model.Exec
	graphCBs  []Callback // the callbacks the compiled step was built with
	extras    [][2]int   // per GraphOutputs callback: its range of the step's outputs
	stopEpoch int        // Fit's last epoch + 1
}

// New makes a Learner with freshly initialised weights (module.Randomize with o.Seed) and zeroed
// optimizer state.
func New(m Model, dls data.Loaders, loss LossFunc, opt optim.Optimizer, o Options, cbs ...Callback) (*Learner, error) {
	if m == nil || loss == nil || opt == nil || dls.Train == nil {
		return nil, errors.New("learn.New: model, loss, optimizer and a training loader are required")
	}
	if err := optim.Validate(opt); err != nil {
		return nil, fmt.Errorf("learn.New: %w", err)
	}
	be := o.Backend
	if be == nil {
		var err error
		if be, err = backend.New(); err != nil {
			return nil, fmt.Errorf("learn.New: %w", err)
		}
	}
	if o.Prepare == nil {
		o.Prepare = ImagesAndLabels
	}
	l := &Learner{Model: m, Data: dls, Loss: loss, Opt: opt, Callbacks: cbs, Options: o,
		Vars: module.NewVarsOn("/model", be), be: be, rng: rand.NewPCG(o.Seed, 0x1ea)}
	l.LR, l.Mom = opt.Defaults()
	if err := module.Randomize(l.Vars, m.Specs(), o.Seed); err != nil {
		return nil, fmt.Errorf("learn.New: %w", err)
	}
	return l, l.initState()
}

// Backend is the engine the Learner computes on.
func (l *Learner) Backend() compute.Backend { return l.be }

// Trainable lists the specs the optimizer updates (every spec but buffers).
func (l *Learner) Trainable() []module.Spec {
	var out []module.Spec
	for _, sp := range l.Model.Specs().List() {
		if !sp.Buffer {
			out = append(out, sp)
		}
	}
	return out
}

// slotVars are the optimizer's state for one slot name ("m", "v", ...), beside the weights.
func (l *Learner) slotVars(slot string) module.Vars {
	v := l.Vars
	v.Prefix = "/opt/" + slot
	return v
}

// EMAVars are the moving average of the weights (when Options.EMA > 0), named like the weights.
func (l *Learner) EMAVars() module.Vars {
	v := l.Vars
	v.Prefix = "/ema"
	return v
}

// initState creates the optimizer's slots (zeros) and the EMA (a copy of the weights).
func (l *Learner) initState() error {
	for _, slot := range l.Opt.Slots() {
		for _, sp := range l.Trainable() {
			zero := sp
			zero.Init = module.InitZeros
			if err := module.SetValues(l.slotVars(slot), zero, nil); err != nil {
				return err
			}
		}
	}
	if l.Options.EMA > 0 {
		for _, sp := range l.Model.Specs().List() {
			w, err := module.Values(l.Vars, sp.Name)
			if err != nil {
				return err
			}
			if err := module.SetValues(l.EMAVars(), sp, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sentinel errors a callback returns to cancel part of a fit. They are not failures: Fit
// returns nil after a cancel.
var (
	ErrCancelFit   = errors.New("learn: fit cancelled")
	ErrCancelEpoch = errors.New("learn: epoch cancelled")
	ErrCancelBatch = errors.New("learn: batch cancelled")
)

// Fit trains for epochs more epochs (a restored checkpoint's unfinished epoch counts as the
// first), each a pass over the training loader followed by one over the validation loader.
func (l *Learner) Fit(epochs int, extra ...Callback) error {
	saved := l.Callbacks
	l.Callbacks = append(slices.Clone(saved), extra...)
	defer func() { l.Callbacks = saved }()
	l.stopEpoch = l.Epoch + epochs
	return l.phase(BeforeFit, ErrCancelFit, func() error {
		for ; l.Epoch < l.stopEpoch; l.Epoch++ {
			if err := l.oneEpoch(true); err != nil {
				return err
			}
			if l.Data.Valid != nil {
				if err := l.oneEpoch(false); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// oneEpoch runs the training or the validation loader to its end.
func (l *Learner) oneEpoch(training bool) error {
	l.Training = training
	dl := l.Data.Valid
	if training {
		dl = l.Data.Train
	}
	return l.phase(BeforeEpoch, ErrCancelEpoch, func() error {
		for l.Iter = 0; ; l.Iter++ {
			b, ok := dl.Next()
			if !ok {
				return nil
			}
			batch, err := l.Options.Prepare(b, rand.New(l.rng))
			if err != nil {
				return err
			}
			l.Batch = batch
			if err := l.phase(BeforeBatch, ErrCancelBatch, l.oneBatch); err != nil {
				return err
			}
			if math.IsNaN(l.LossValue) || math.IsInf(l.LossValue, 0) {
				return fmt.Errorf("learn: the loss is %v at step %d (epoch %d, batch %d): the learning rate %.3g may be too high",
					l.LossValue, l.Step, l.Epoch, l.Iter, l.LR)
			}
		}
	})
}

// phase fires the before event, runs body, fires the after event; a cancel of this level ends
// the phase quietly, and the cleanup event fires whatever happened.
func (l *Learner) phase(before Event, cancel error, body func() error) error {
	err := l.fire(before)
	if err == nil {
		err = body()
	}
	if err == nil {
		err = l.fire(before + 1) // the After event
	}
	if errors.Is(err, cancel) {
		err = nil
	}
	if cerr := l.fire(before + 2); err == nil { // the Cleanup event
		err = cerr
	}
	return err
}

// oneBatch runs the compiled step: in training, forward, loss, gradients and the optimizer's
// update; in validation, forward and loss.
func (l *Learner) oneBatch() error {
	outs, err := l.runStep()
	if err != nil {
		return err
	}
	loss := tensors.MustCopyFlatData[float32](outs[0])[0]
	outs[0].FinalizeAll()
	l.LossValue = float64(loss)
	if l.Preds != nil {
		l.Preds.FinalizeAll()
	}
	l.Preds = outs[1]
	if l.Training {
		l.Step++
		for i, cb := range l.graphCBs {
			r := l.extras[i]
			if g, ok := cb.(GraphOutputs); ok && r[1] > r[0] {
				if err := g.ReceiveOutputs(l, outs[r[0]:r[1]]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
