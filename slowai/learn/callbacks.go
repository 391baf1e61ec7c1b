package learn

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/optim"
	"github.com/slowai-go/course/slowai/safefile"
	"github.com/slowai-go/course/slowai/show"
)

// Find returns the Learner's first callback of type T.
func Find[T Callback](l *Learner) (T, bool) {
	for _, cb := range l.Callbacks {
		if t, ok := cb.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// Metric scores a batch's predictions: it returns a sum over the batch and how many examples
// it covers, so that an epoch's value is the total sum over the total count.
type Metric func(preds *tensors.Tensor, b Batch) (sum float64, n int)

// Accuracy is the fraction of examples whose highest-scoring class (preds [B, K]) is the label
// (the batch's first target).
func Accuracy(preds *tensors.Tensor, b Batch) (float64, int) {
	p := tensors.MustCopyFlatData[float32](preds)
	y := tensors.MustCopyFlatData[int32](b.Targets[0])
	k := len(p) / len(y)
	right := 0
	for i, label := range y {
		best := 0
		for j := 1; j < k; j++ {
			if p[i*k+j] > p[i*k+best] {
				best = j
			}
		}
		if best == int(label) {
			right++
		}
	}
	return float64(right), len(y)
}

// EpochLog is one epoch half's results.
type EpochLog struct {
	Epoch   int
	Train   bool
	Loss    float64            // mean loss over the examples
	Metrics map[string]float64 // each metric's mean over the examples
	Seconds float64
}

// Metrics averages the loss and each metric over every epoch's training and validation halves
// (PyTorch's usual per-example means), keeping them in Logs.
type Metrics struct {
	Names []string
	Funcs []Metric
	Logs  []EpochLog

	loss    float64
	sums    []float64
	n       int
	started time.Time
}

// NewMetrics makes a Metrics callback from name/function pairs.
func NewMetrics(pairs ...any) *Metrics {
	m := &Metrics{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m.Names = append(m.Names, pairs[i].(string))
		m.Funcs = append(m.Funcs, pairs[i+1].(Metric))
	}
	return m
}

func (m *Metrics) Name() string { return "metrics" }

func (m *Metrics) BeforeEpoch(l *Learner) error {
	m.loss, m.n, m.sums, m.started = 0, 0, make([]float64, len(m.Funcs)), time.Now()
	return nil
}

func (m *Metrics) AfterBatch(l *Learner) error {
	n := 0
	for i, f := range m.Funcs {
		s, k := f(l.Preds, l.Batch)
		m.sums[i] += s
		n = k
	}
	if n == 0 {
		n = int(l.Batch.Inputs[0].Shape().Dimensions[0])
	}
	m.loss += l.LossValue * float64(n)
	m.n += n
	return nil
}

func (m *Metrics) AfterEpoch(l *Learner) error {
	e := EpochLog{Epoch: l.Epoch, Train: l.Training, Loss: m.loss / float64(max(m.n, 1)),
		Metrics: map[string]float64{}, Seconds: time.Since(m.started).Seconds()}
	for i, name := range m.Names {
		e.Metrics[name] = m.sums[i] / float64(max(m.n, 1))
	}
	m.Logs = append(m.Logs, e)
	return nil
}

// Last returns the latest log of the training (train true) or validation half.
func (m *Metrics) Last(train bool) (EpochLog, bool) {
	for i := len(m.Logs) - 1; i >= 0; i-- {
		if m.Logs[i].Train == train {
			return m.Logs[i], true
		}
	}
	return EpochLog{}, false
}

func (m *Metrics) SaveState() ([]byte, error) { return json.Marshal(m.Logs) }
func (m *Metrics) LoadState(b []byte) error   { return json.Unmarshal(b, &m.Logs) }

// Recorder keeps every training step's learning rate, momentum and loss.
type Recorder struct {
	LRs, Moms, Losses []float64
}

func (r *Recorder) Name() string { return "recorder" }

func (r *Recorder) AfterBatch(l *Learner) error {
	if l.Training {
		r.LRs = append(r.LRs, l.LR)
		r.Moms = append(r.Moms, l.Mom)
		r.Losses = append(r.Losses, l.LossValue)
	}
	return nil
}

func (r *Recorder) SaveState() ([]byte, error) { return json.Marshal(r) }
func (r *Recorder) LoadState(b []byte) error   { return json.Unmarshal(b, r) }

// Save writes the record to path as JSON, so that a later notebook cell (a new process) can
// plot it.
func (r *Recorder) Save(path string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return safefile.Write(path, b)
}

// LoadRecorder reads a record written by Recorder.Save.
func LoadRecorder(path string) (*Recorder, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("learn: %w", err)
	}
	r := &Recorder{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("learn: %s is not a saved Recorder: %w", path, err)
	}
	return r, nil
}

// Plot draws the recorded learning rates, momenta and losses against the step.
func (r *Recorder) Plot() (lr, mom, loss image.Image, err error) {
	if lr, err = show.Lines("Learning rate by step", "step", "learning rate", show.Series{Y: r.LRs}); err != nil {
		return
	}
	if mom, err = show.Lines("Momentum by step", "step", "momentum", show.Series{Y: r.Moms}); err != nil {
		return
	}
	loss, err = show.Lines("Training loss by step", "step", "loss", show.Series{Y: r.Losses})
	return
}

// Schedule sets the learning rate and momentum of every training step from functions of the
// step (either may be nil to leave it alone).
type Schedule struct {
	LR, Mom optim.Schedule
}

// Order puts schedules before the callbacks that read the hyper-parameters.
func (s Schedule) Order() int { return -10 }

func (s Schedule) BeforeBatch(l *Learner) error {
	if !l.Training {
		return nil
	}
	if s.LR != nil {
		l.LR = s.LR(l.Step + 1)
	}
	if s.Mom != nil {
		l.Mom = s.Mom(l.Step + 1)
	}
	return nil
}

// OneCycle is the one-cycle schedule over epochs of l's training loader (see optim.OneCycle).
func OneCycle(l *Learner, maxLR float64, epochs int) Schedule {
	lr, mom := optim.OneCycle(maxLR, max(1, epochs*l.Data.Train.Len()), optim.OneCycleOpts{})
	return Schedule{LR: lr, Mom: mom}
}

// StopAfter cancels the fit once the Learner has taken Steps optimizer steps in all.
type StopAfter struct{ Steps int }

// Order runs StopAfter last, so that a Checkpoint saves the final step first.
func (s StopAfter) Order() int { return 200 }

func (s StopAfter) AfterBatch(l *Learner) error {
	if l.Training && l.Step >= s.Steps {
		return ErrCancelFit
	}
	return nil
}

// StopAt cancels the fit after the first training step that ends past its time (a run's
// deadline; save the Learner after Fit, since a cancelled fit skips Checkpoint's AfterFit).
type StopAt time.Time

func (s StopAt) AfterBatch(l *Learner) error {
	if l.Training && time.Now().After(time.Time(s)) {
		return ErrCancelFit
	}
	return nil
}

// ClipGrads scales the gradients down, inside the step, when their global L2 norm exceeds Max.
type ClipGrads struct{ Max float64 }

func (c ClipGrads) GraphGrads(_ *Learner, grads []*graph.Node) []*graph.Node {
	return optim.ClipGradNorm(grads, c.Max)
}

// Checkpoint saves the Learner to Path every Every training steps (if > 0) and at the end of
// the fit, with Meta added to the file's metadata.
type Checkpoint struct {
	Path  string
	Every int
	Meta  map[string]string
}

// Order saves after the callbacks that update their state in AfterBatch.
func (c Checkpoint) Order() int { return 100 }

func (c Checkpoint) AfterBatch(l *Learner) error {
	if l.Training && c.Every > 0 && l.Step%c.Every == 0 {
		return l.Save(c.Path, c.Meta)
	}
	return nil
}

func (c Checkpoint) AfterFit(l *Learner) error { return l.Save(c.Path, c.Meta) }

// LRFinder raises the learning rate by Mult each training batch from Start, recording the
// losses, and stops the fit when the loss passes 3x its minimum (or turns NaN), or after
// MaxIters batches; validation is skipped. Use it through LRFind, which restores the weights.
type LRFinder struct {
	Start, Mult float64
	MaxIters    int
	LRs, Losses []float64
	min         float64
}

func (f *LRFinder) BeforeFit(l *Learner) error {
	f.LRs, f.Losses, f.min = nil, nil, math.Inf(1)
	l.LR = f.Start
	return nil
}

func (f *LRFinder) BeforeEpoch(l *Learner) error {
	if !l.Training {
		return ErrCancelEpoch
	}
	return nil
}

func (f *LRFinder) AfterBatch(l *Learner) error {
	loss := l.LossValue
	f.LRs = append(f.LRs, l.LR)
	f.Losses = append(f.Losses, loss)
	f.min = min(f.min, loss)
	if math.IsNaN(loss) || loss > 3*f.min || len(f.LRs) >= f.MaxIters {
		return ErrCancelFit
	}
	l.LR *= f.Mult
	return nil
}

// LRFind runs an LRFinder from start (x1.3 per batch, at most 500 batches) on a copy of the
// training state: the weights, the optimizer's state, the step count and the loaders'
// positions are put back afterwards.
func LRFind(l *Learner, start float64) (*LRFinder, error) {
	dir, err := os.MkdirTemp("", "lrfind-")
	if err != nil {
		return nil, fmt.Errorf("learn: LRFind: %w", err)
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, "state.safetensors")
	if err := l.Save(snap, nil); err != nil {
		return nil, err
	}
	f := &LRFinder{Start: start, Mult: 1.3, MaxIters: 500}
	fitErr := l.Fit(1000, f)
	if err := l.Load(snap); err != nil {
		return nil, err
	}
	if fitErr != nil {
		return nil, fmt.Errorf("learn: LRFind: %w", fitErr)
	}
	return f, nil
}
