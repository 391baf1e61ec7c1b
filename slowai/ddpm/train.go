package ddpm

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/progress"
)

// TrainConfig says how to train. Zero fields take the defaults noted (see WithDefaults).
type TrainConfig struct {
	Steps       int     `json:"steps"`        // planned optimizer steps; the LR schedule spans them (2000)
	BatchSize   int     `json:"batch_size"`   // images per step (128)
	LR          float64 `json:"lr"`           // peak AdamW learning rate (2e-3)
	Warmup      int     `json:"warmup"`       // linear LR warm-up steps (Steps/20)
	MinLRFrac   float64 `json:"min_lr_frac"`  // the cosine decay ends at MinLRFrac·LR (0.05)
	WeightDecay float64 `json:"weight_decay"` // AdamW's decoupled decay (0.01, PyTorch's default)
	Beta1       float64 `json:"beta1"`        // (0.9)
	Beta2       float64 `json:"beta2"`        // (0.999)
	Eps         float64 `json:"eps"`          // (1e-8)
	// EMADecay is the top decay of an exponential moving average of the weights, which samples
	// better than the raw weights at the end of a noisy run. The decay used at step s is
	// min(EMADecay, (1+s)/(10+s)), so the average does not drag the random start along. (0.999)
	EMADecay float64 `json:"ema_decay"`
	Seed     uint64  `json:"seed"` // initial weights, batch order, timesteps and noise
}

// WithDefaults fills the zero fields.
func (c TrainConfig) WithDefaults() TrainConfig {
	if c.Steps <= 0 {
		c.Steps = 2000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 128
	}
	if c.LR <= 0 {
		c.LR = 2e-3
	}
	if c.Warmup <= 0 {
		c.Warmup = max(1, c.Steps/20)
	}
	if c.MinLRFrac <= 0 {
		c.MinLRFrac = 0.05
	}
	if c.WeightDecay == 0 {
		c.WeightDecay = 0.01
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	if c.EMADecay == 0 {
		c.EMADecay = 0.999
	}
	return c
}

// LRAt is the learning rate of step s (1-based): linear warm-up, then cosine decay to
// MinLRFrac·LR at Steps, flat after that.
func (c TrainConfig) LRAt(s int) float64 {
	if s <= c.Warmup {
		return c.LR * float64(s) / float64(c.Warmup)
	}
	frac := math.Min(1, float64(s-c.Warmup)/float64(max(1, c.Steps-c.Warmup)))
	cos := 0.5 * (1 + math.Cos(math.Pi*frac))
	return c.LR * (c.MinLRFrac + (1-c.MinLRFrac)*cos)
}

// Trainer holds the weights, the AdamW state and the EMA on the backend, and steps them.
type Trainer struct {
	Config Config
	Train  TrainConfig
	// Step is the number of optimizer steps taken so far.
	Step int
	// Losses holds the ε-MSE of every step taken, in order.
	Losses []float64
	// Seconds is the wall time spent in Run so far (kept across checkpoints).
	Seconds float64

	be       compute.Backend
	specs    []ParamSpec
	sched    *diffusion.Schedule
	ds       *data.Dataset
	params   []*tensors.Tensor
	m, v     []*tensors.Tensor
	ema      []*tensors.Tensor
	exec     *Exec
	pcg      *rand.PCG  // timesteps and noise; its state goes into checkpoints
	rng      *rand.Rand // draws from pcg
	epoch    int        // batch order of epoch e is a permutation drawn from (Seed, e)
	pos      int        // next index into perm
	perm     []int
	batchBuf []float32
	logT     time.Time
	logStep  int
}

// NewTrainer starts training cfg from the initial weights of tc.Seed on the images of ds (any
// size up to cfg.Size: they are zero-padded to the centre and scaled from [0,1] to [-1,1]).
func NewTrainer(be compute.Backend, cfg Config, tc TrainConfig, ds *data.Dataset) (*Trainer, error) {
	tc = tc.WithDefaults()
	w := cfg.Init(tc.Seed)
	return newTrainer(be, cfg, tc, ds, w, nil, nil, nil)
}

func newTrainer(be compute.Backend, cfg Config, tc TrainConfig, ds *data.Dataset, w, m, v, ema [][]float32) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if be == nil {
		return nil, fmt.Errorf("ddpm: backend is nil")
	}
	if ds == nil || ds.N == 0 {
		return nil, fmt.Errorf("ddpm: no training images")
	}
	if ds.C != 1 || ds.H > cfg.Size || ds.W > cfg.Size || cfg.InChannels != 1 {
		return nil, fmt.Errorf("ddpm: %s images are %dx%d with %d channel(s); the model takes %d channel(s) of at most %dx%d",
			ds.Name, ds.H, ds.W, ds.C, cfg.InChannels, cfg.Size, cfg.Size)
	}
	sched, err := cfg.NoiseSchedule()
	if err != nil {
		return nil, err
	}
	tr := &Trainer{Config: cfg, Train: tc, be: be, specs: cfg.Specs(), sched: sched, ds: ds}
	if tr.params, err = toTensors(tr.specs, w); err != nil {
		return nil, err
	}
	zeros := func(src [][]float32) ([]*tensors.Tensor, error) {
		if src == nil {
			src = make([][]float32, len(tr.specs))
			for i, s := range tr.specs {
				src[i] = make([]float32, s.Size())
			}
		}
		return toTensors(tr.specs, src)
	}
	if tr.m, err = zeros(m); err != nil {
		return nil, err
	}
	if tr.v, err = zeros(v); err != nil {
		return nil, err
	}
	if ema == nil {
		ema = w
	}
	if tr.ema, err = toTensors(tr.specs, ema); err != nil {
		return nil, err
	}
	tr.pcg = rand.NewPCG(tc.Seed, 0x7a1)
	tr.rng = rand.New(tr.pcg)
	return tr, nil
}

// toTensors copies host weights into tensors shaped by specs.
func toTensors(specs []ParamSpec, w [][]float32) ([]*tensors.Tensor, error) {
	if len(w) != len(specs) {
		return nil, fmt.Errorf("ddpm: %d weight arrays for %d parameters", len(w), len(specs))
	}
	out := make([]*tensors.Tensor, len(specs))
	for i, s := range specs {
		if len(w[i]) != s.Size() {
			return nil, fmt.Errorf("ddpm: parameter %q has %d values, shape %v needs %d", s.Name, len(w[i]), s.Shape, s.Size())
		}
		out[i] = tensors.FromFlatDataAndDimensions(append([]float32(nil), w[i]...), s.Shape...)
	}
	return out, nil
}

// fromTensors copies tensors back to the host.
func fromTensors(ts []*tensors.Tensor) ([][]float32, error) {
	out := make([][]float32, len(ts))
	for i, t := range ts {
		v, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// NoiseSchedule returns the forward-process schedule the model is trained with.
func (c Config) NoiseSchedule() (*diffusion.Schedule, error) {
	t := c.T
	if t == 0 {
		t = 1000
	}
	switch c.Schedule {
	case "", "cosine":
		return diffusion.CosineSchedule(t, 0.008), nil
	case "linear":
		return diffusion.LinearSchedule(t, 1e-4, 0.02), nil
	}
	return nil, fmt.Errorf("ddpm: schedule %q, expected \"cosine\" or \"linear\"", c.Schedule)
}

// StepGraph is one AdamW step on the ε-MSE, as a graph: inputs are the n parameters, their
// first and second moments, their EMA, then x_t, ε, t and the scalars (decay factor
// 1-lr·wd, step size lr/(1-β1^s), sqrt(1-β2^s), EMA decay); outputs are the new parameters,
// moments and EMA, then the loss.
func (tr *Trainer) stepGraph(g *Graph, in []*Node) []*Node {
	n := len(tr.specs)
	p, m, v, ema := in[:n], in[n:2*n], in[2*n:3*n], in[3*n:4*n]
	xt, eps, t := in[4*n], in[4*n+1], in[4*n+2]
	decay, stepSize, sqrtBC2, emaDecay := in[4*n+3], in[4*n+4], in[4*n+5], in[4*n+6]
	loss := diffusion.EpsLoss(tr.Config.UNet(NewParams(tr.specs, p), xt, t), eps)
	grads := Gradient(loss, p...)
	b1, b2, e := tr.Train.Beta1, tr.Train.Beta2, tr.Train.Eps
	outP, outM, outV, outE := make([]*Node, n), make([]*Node, n), make([]*Node, n), make([]*Node, n)
	for i := range p {
		outM[i], outV[i] = nn.AdamMoments(m[i], v[i], grads[i], b1, b2)
		denom := AddScalar(Div(Sqrt(outV[i]), sqrtBC2), e)
		outP[i] = Sub(Mul(p[i], decay), Mul(stepSize, Div(outM[i], denom)))
		outE[i] = Add(Mul(ema[i], emaDecay), Mul(OneMinus(emaDecay), outP[i]))
	}
	out := append(outP, outM...)
	out = append(out, outV...)
	out = append(out, outE...)
	return append(out, loss)
}

// nextBatch fills a padded, [-1,1]-scaled batch of training images.
func (tr *Trainer) nextBatch(bs int) []float32 {
	s, h, w := tr.Config.Size, tr.ds.H, tr.ds.W
	top, left := (s-h)/2, (s-w)/2
	if len(tr.batchBuf) != bs*s*s {
		tr.batchBuf = make([]float32, bs*s*s)
	}
	x := tr.batchBuf
	for b := range bs {
		if tr.perm == nil || tr.pos >= len(tr.perm) {
			if tr.perm != nil {
				tr.epoch++
				tr.pos = 0
			}
			tr.perm = rand.New(rand.NewPCG(tr.Train.Seed^0x9e3779b97f4a7c15, uint64(tr.epoch))).Perm(tr.ds.N)
		}
		img := tr.ds.Image(tr.perm[tr.pos])
		tr.pos++
		dst := x[b*s*s : (b+1)*s*s]
		for i := range dst {
			dst[i] = -1
		}
		for r := range h {
			for c := range w {
				dst[(top+r)*s+left+c] = 2*img[r*w+c] - 1
			}
		}
	}
	return x
}

// TrainStep takes one AdamW step and returns its loss.
func (tr *Trainer) TrainStep() (float64, error) {
	if tr.exec == nil {
		e, err := NewExec(tr.be, tr.stepGraph)
		if err != nil {
			return 0, fmt.Errorf("ddpm: building the training step: %w", err)
		}
		tr.exec = e
	}
	tc := tr.Train
	bs, s := tc.BatchSize, tr.Config.Size
	x0 := tr.nextBatch(bs)
	ts := make([]int, bs)
	tf := make([]float32, bs)
	for i := range ts {
		ts[i] = tr.rng.IntN(tr.sched.T())
		tf[i] = float32(ts[i])
	}
	eps := make([]float32, len(x0))
	for i := range eps {
		eps[i] = float32(tr.rng.NormFloat64())
	}
	xt, err := tr.sched.QSampleBatch(x0, eps, ts)
	if err != nil {
		return 0, err
	}
	step := tr.Step + 1
	lr := tc.LRAt(step)
	bc1 := 1 - math.Pow(tc.Beta1, float64(step))
	bc2 := 1 - math.Pow(tc.Beta2, float64(step))
	emaDecay := math.Min(tc.EMADecay, float64(1+step)/float64(10+step))
	n := len(tr.specs)
	args := make([]any, 0, 4*n+7)
	for _, group := range [][]*tensors.Tensor{tr.params, tr.m, tr.v, tr.ema} {
		for _, t := range group {
			args = append(args, t)
		}
	}
	c := tr.Config.InChannels
	args = append(args,
		tensors.FromFlatDataAndDimensions(xt, bs, c, s, s),
		tensors.FromFlatDataAndDimensions(eps, bs, c, s, s),
		tensors.FromFlatDataAndDimensions(tf, bs),
		float32(1-lr*tc.WeightDecay), float32(lr/bc1), float32(math.Sqrt(bc2)), float32(emaDecay))
	out, err := tr.exec.Call(args...)
	if err != nil {
		return 0, fmt.Errorf("ddpm: training step %d: %w", step, err)
	}
	for _, group := range [][]*tensors.Tensor{tr.params, tr.m, tr.v, tr.ema} {
		for _, t := range group {
			t.FinalizeAll()
		}
	}
	tr.params, tr.m, tr.v, tr.ema = out[:n], out[n:2*n], out[2*n:3*n], out[3*n:4*n]
	lossT := out[4*n]
	lv, err := tensors.CopyFlatData[float32](lossT)
	lossT.FinalizeAll()
	if err != nil {
		return 0, err
	}
	loss := float64(lv[0])
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("ddpm: loss is %v at step %d (lower the learning rate)", loss, step)
	}
	tr.Step = step
	tr.Losses = append(tr.Losses, loss)
	return loss, nil
}

// RunOptions controls Run.
type RunOptions struct {
	Progress        bool      // draw a progress bar with the running loss
	Log             io.Writer // if set, a line every LogEvery steps (for a background run's log file)
	LogEvery        int       // (50)
	CheckpointPath  string    // if set, save the full training state here (atomically)...
	CheckpointEvery int       // ...every CheckpointEvery steps (250) and at the end
	Deadline        time.Time // if set, stop after the step that passes it
	MaxSteps        int       // if > 0, stop after this many steps in this call (the LR schedule still spans Train.Steps)
}

// Run trains until Train.Steps steps have been taken (or the deadline passes).
func (tr *Trainer) Run(opt RunOptions) error {
	if opt.LogEvery <= 0 {
		opt.LogEvery = 50
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 250
	}
	todo := tr.Train.Steps - tr.Step
	if opt.MaxSteps > 0 {
		todo = min(todo, opt.MaxSteps)
	}
	stop := tr.Step + todo
	var bar *progress.Bar
	if opt.Progress && todo > 0 {
		bar = progress.New("ddpm", int64(todo))
		defer bar.Done()
	}
	start := time.Now()
	base := tr.Seconds
	for tr.Step < stop {
		loss, err := tr.TrainStep()
		if err != nil {
			return err
		}
		tr.Seconds = base + time.Since(start).Seconds()
		if bar != nil {
			bar.Add(1)
			bar.SetSuffix("loss %.4f", tr.SmoothedLoss(50))
		}
		if opt.Log != nil && tr.Step%opt.LogEvery == 0 {
			now := time.Now()
			if tr.logT.IsZero() {
				tr.logT, tr.logStep = start, stop-todo
			}
			rate := float64(tr.Train.BatchSize*(tr.Step-tr.logStep)) / math.Max(1e-9, now.Sub(tr.logT).Seconds())
			tr.logT, tr.logStep = now, tr.Step
			fmt.Fprintf(opt.Log, "%s step %d/%d loss %.5f (mean of last %d: %.5f) lr %.2e %.1f img/s\n",
				now.Format("15:04:05"), tr.Step, tr.Train.Steps, loss, opt.LogEvery, tr.SmoothedLoss(opt.LogEvery),
				tr.Train.LRAt(tr.Step), rate)
		}
		last := tr.Step >= stop || (!opt.Deadline.IsZero() && time.Now().After(opt.Deadline))
		if opt.CheckpointPath != "" && (tr.Step%opt.CheckpointEvery == 0 || last) {
			if err := tr.SaveCheckpoint(opt.CheckpointPath, true); err != nil {
				return err
			}
			if opt.Log != nil {
				fmt.Fprintf(opt.Log, "checkpoint %s at step %d\n", opt.CheckpointPath, tr.Step)
			}
		}
		if last {
			break
		}
	}
	return nil
}

// SmoothedLoss is the mean of the last n losses (all of them if fewer).
func (tr *Trainer) SmoothedLoss(n int) float64 {
	k := min(n, len(tr.Losses))
	if k == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, l := range tr.Losses[len(tr.Losses)-k:] {
		s += l
	}
	return s / float64(k)
}

// Weights copies the current raw weights to the host, in Specs order.
func (tr *Trainer) Weights() ([][]float32, error) { return fromTensors(tr.params) }

// EMAWeights copies the moving average of the weights to the host, in Specs order.
func (tr *Trainer) EMAWeights() ([][]float32, error) { return fromTensors(tr.ema) }

// Finalize frees the compiled step and the state on the backend.
func (tr *Trainer) Finalize() {
	if tr.exec != nil {
		tr.exec.Finalize()
		tr.exec = nil
	}
	for _, group := range [][]*tensors.Tensor{tr.params, tr.m, tr.v, tr.ema} {
		for _, t := range group {
			t.FinalizeAll()
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
