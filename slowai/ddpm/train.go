package ddpm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/optim"
)

// TrainConfig says how to train. Zero fields take the defaults noted (see WithDefaults).
type TrainConfig struct {
	Steps       int     `json:"steps"`        // planned optimizer steps; the LR schedule spans them (2000)
	BatchSize   int     `json:"batch_size"`   // images per step (128)
	LR          float64 `json:"lr"`           // peak AdamW learning rate (2e-3)
	Warmup      int     `json:"warmup"`       // linear LR warm-up steps (Steps/20)
	MinLRFrac   float64 `json:"min_lr_frac"`  // the cosine decay ends at MinLRFrac·LR (0.05)
	WeightDecay float64 `json:"weight_decay"` // AdamW's decoupled decay (0.01, PyTorch's default)
	// EMADecay is the top decay of an exponential moving average of the weights, which samples
	// better than the raw weights at the end of a noisy run. The decay used at step s is
	// min(EMADecay, (1+s)/(10+s)) (optim.EMADecay), so the average does not drag the random
	// start along. (0.999)
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
	if c.EMADecay == 0 {
		c.EMADecay = 0.999
	}
	return c
}

// LRSchedule is the learning rate by step: linear warm-up, then cosine decay to MinLRFrac·LR at
// Steps, flat after that.
func (c TrainConfig) LRSchedule() optim.Schedule {
	return optim.CosineWarmup(c.LR, c.MinLRFrac, c.Warmup, c.Steps)
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

// Noising is the training step's input side, a learn.PrepareFunc: for each clean image x_0 of
// the batch it draws a timestep t uniformly from [0, T) and noise ε ~ N(0, I) from the
// Learner's generator, and makes x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε. The network gets [x_t, t] and
// learns to predict the target ε.
func Noising(sched *diffusion.Schedule) learn.PrepareFunc {
	return func(b *data.Batch, rng *rand.Rand) (learn.Batch, error) {
		ts := make([]int, b.N)
		tf := make([]float32, b.N)
		for i := range ts {
			ts[i] = rng.IntN(sched.T())
			tf[i] = float32(ts[i])
		}
		eps := make([]float32, len(b.X))
		for i := range eps {
			eps[i] = float32(rng.NormFloat64())
		}
		xt, err := sched.QSampleBatch(b.X, eps, ts)
		if err != nil {
			return learn.Batch{}, err
		}
		shape := []int{b.N, b.C, b.H, b.W}
		return learn.Batch{
			Inputs:  []*tensors.Tensor{tensors.FromFlatDataAndDimensions(xt, shape...), tensors.FromFlatDataAndDimensions(tf, b.N)},
			Targets: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(eps, shape...)},
			Host:    b,
		}, nil
	}
}

// Loader serves ds's images (any size up to cfg.Size) zero-padded to the centre and scaled from
// [0,1] to [-1,1], shuffled from seed, in full batches only (one compiled step shape).
func Loader(cfg Config, ds *data.Dataset, batchSize int, seed uint64) (*data.Loader, error) {
	if ds == nil || ds.N == 0 {
		return nil, errors.New("ddpm: no training images")
	}
	if ds.C != cfg.InChannels || ds.H > cfg.Size || ds.W > cfg.Size {
		return nil, fmt.Errorf("ddpm: %s images are %dx%d with %d channel(s); the model takes %d channel(s) of at most %dx%d",
			ds.Name, ds.H, ds.W, ds.C, cfg.InChannels, cfg.Size, cfg.Size)
	}
	return data.NewLoader(ds, batchSize, data.LoaderOptions{Shuffle: true, DropLast: true, Seed: seed,
		Transforms: []data.Transform{data.Pad(cfg.Size, 0), data.Scale(2, -1)}})
}

// NewLearner sets up training cfg on ds as tc says: the U-Net from tc.Seed, the Noising step,
// the ε-MSE (learn.MSE), AdamW with tc.LRSchedule (learn.Schedule), the EMA of the weights
// (learn.Options.EMA) and a learn.Recorder keeping every step's loss; cbs are added. Train it
// with TrainSteps; a checkpoint (Learner.Save, with Meta) resumes with Learner.Load.
func NewLearner(be compute.Backend, cfg Config, tc TrainConfig, ds *data.Dataset, cbs ...learn.Callback) (*learn.Learner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if be == nil {
		return nil, errors.New("ddpm: backend is nil")
	}
	tc = tc.WithDefaults()
	sched, err := cfg.NoiseSchedule()
	if err != nil {
		return nil, err
	}
	dl, err := Loader(cfg, ds, tc.BatchSize, tc.Seed)
	if err != nil {
		return nil, fmt.Errorf("ddpm: %w", err)
	}
	cbs = append([]learn.Callback{&learn.Recorder{}, learn.Schedule{LR: tc.LRSchedule()}}, cbs...)
	return learn.New(NewUNet(cfg), data.Loaders{Train: dl}, learn.MSE, optim.AdamW(tc.LR, tc.WeightDecay),
		learn.Options{Backend: be, Seed: tc.Seed, Prepare: Noising(sched), EMA: tc.EMADecay}, cbs...)
}

// TrainSteps fits l until it has taken steps optimizer steps in all (it may already have some,
// after Load); extra callbacks join for this call.
func TrainSteps(l *learn.Learner, steps int, extra ...learn.Callback) error {
	if l.Step >= steps {
		return nil
	}
	per := max(1, l.Data.Train.Len())
	epochs := (steps-l.Step+per-1)/per + 1
	return l.Fit(epochs, append(extra, learn.StopAfter{Steps: steps})...)
}

// Losses is the ε-MSE of every training step l has taken (its learn.Recorder's).
func Losses(l *learn.Learner) []float64 {
	if r, ok := learn.Find[*learn.Recorder](l); ok {
		return r.Losses
	}
	return nil
}

// Meta is the metadata a training checkpoint carries so that it can be resumed (ResumeLearner)
// and sampled from (LoadDenoiser): the model and training configs as JSON.
func Meta(cfg Config, tc TrainConfig) map[string]string {
	return map[string]string{"config": cfg.JSON(), "train": mustJSON(tc.WithDefaults())}
}

// ResumeLearner makes the Learner a training checkpoint at path was saved from (its Meta) and
// loads it: training continues exactly where it stopped. steps > 0 replaces the planned number of
// steps (and so stretches the LR schedule).
func ResumeLearner(be compute.Backend, path string, ds *data.Dataset, steps int, cbs ...learn.Callback) (*learn.Learner, Config, TrainConfig, error) {
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return nil, Config{}, TrainConfig{}, err
	}
	tc := ck.Train
	if steps > 0 {
		tc.Steps = steps
	}
	l, err := NewLearner(be, ck.Config, tc, ds, cbs...)
	if err != nil {
		return nil, Config{}, TrainConfig{}, err
	}
	if err := l.Load(path); err != nil {
		return nil, Config{}, TrainConfig{}, err
	}
	return l, ck.Config, tc, nil
}

// SmoothedLoss is the mean of the last n losses (all of them if fewer).
func SmoothedLoss(losses []float64, n int) float64 {
	k := min(n, len(losses))
	if k == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, l := range losses[len(losses)-k:] {
		s += l
	}
	return s / float64(k)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
