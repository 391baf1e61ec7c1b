package ddpm

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/nn/module"
)

// Denoiser is a trained U-Net ready to predict noise: it reads its weights from Vars (a loaded
// file's, or a Learner's EMAVars) and compiles the forward pass once per batch size.
type Denoiser struct {
	Config Config
	Vars   module.Vars
	unet   *UNet
	exec   *model.Exec
}

// NewDenoiser predicts noise with the weights of cfg's network in v, which must say its Backend.
func NewDenoiser(cfg Config, v module.Vars) (*Denoiser, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if v.Backend == nil || v.Store == nil {
		return nil, errors.New("ddpm.NewDenoiser: Vars need a Store and a Backend (module.NewVarsOn)")
	}
	d := &Denoiser{Config: cfg, Vars: v, unet: NewUNet(cfg)}
	for _, sp := range d.unet.Specs().List() {
		if v.Variable(sp.Name) == nil {
			return nil, fmt.Errorf("ddpm.NewDenoiser: no weights for %q under %q", sp.Name, v.Prefix)
		}
	}
	var err error
	d.exec, err = model.NewExec(v.Backend, v.Store, func(_ *model.Scope, x, t *Node) *Node {
		return d.unet.Apply(d.Vars, x, t)
	})
	if err != nil {
		return nil, fmt.Errorf("ddpm: building the denoiser: %w", err)
	}
	return d, nil
}

// LoadDenoiser reads a weights file or a training checkpoint (its EMA) onto be.
func LoadDenoiser(be compute.Backend, path string) (*Denoiser, *Checkpoint, error) {
	return loadDenoiser(be, path, false)
}

// LoadRawDenoiser is LoadDenoiser with a training checkpoint's raw weights instead of the EMA.
func LoadRawDenoiser(be compute.Backend, path string) (*Denoiser, *Checkpoint, error) {
	return loadDenoiser(be, path, true)
}

func loadDenoiser(be compute.Backend, path string, raw bool) (*Denoiser, *Checkpoint, error) {
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	v := module.NewVarsOn("/unet", be)
	if err := LoadWeights(v, path, ck.Config, raw); err != nil {
		return nil, nil, err
	}
	d, err := NewDenoiser(ck.Config, v)
	return d, ck, err
}

// Predict is a diffusion.Model: the predicted noise for the batch x (items of
// InChannels·Size·Size values, one after another) at timesteps t (one per item).
func (d *Denoiser) Predict(x []float32, t []int) ([]float32, error) {
	c, s := d.Config.InChannels, d.Config.Size
	b := len(t)
	if b == 0 || len(x) != b*c*s*s {
		return nil, fmt.Errorf("ddpm: Predict got %d values for %d timesteps, expected %d per item", len(x), b, c*s*s)
	}
	tf := make([]float32, b)
	for i, v := range t {
		tf[i] = float32(v)
	}
	out, err := d.exec.Exec(tensors.FromFlatDataAndDimensions(x, b, c, s, s), tensors.FromFlatDataAndDimensions(tf, b))
	if err != nil {
		return nil, fmt.Errorf("ddpm: denoiser forward: %w", err)
	}
	defer out[0].FinalizeAll()
	return tensors.CopyFlatData[float32](out[0])
}

// SampleOptions controls Sample.
type SampleOptions struct {
	N     int    // number of images
	Batch int    // images per model call (N when 0)
	Steps int    // sampler steps (50)
	DDPM  bool   // ancestral DDPM sampling instead of deterministic DDIM (η = 0)
	Seed  uint64 // starting noise (and DDPM's per-step noise)
	// Every, when > 0, keeps the sample (X) and the model's guess at the clean image (PredX0)
	// after every Every-th step and the last, for trajectory strips. Only the first batch is kept.
	Every int
}

// Trajectory holds the intermediate states Sample kept: Steps[k] is the step index after which
// X[k] and PredX0[k] (each the whole first batch) were recorded.
type Trajectory struct {
	Steps     []int
	Timesteps []int
	X, PredX0 [][]float32
}

// Sample generates images from pure noise; each is Size·Size values in [-1, 1] (predicted x0 is
// clipped to that range at every step, as the DDPM paper does).
func (d *Denoiser) Sample(opt SampleOptions) ([][]float32, *Trajectory, error) {
	if opt.N <= 0 {
		return nil, nil, fmt.Errorf("ddpm: Sample N = %d, expected > 0", opt.N)
	}
	if opt.Batch <= 0 || opt.Batch > opt.N {
		opt.Batch = opt.N
	}
	if opt.Steps <= 0 {
		opt.Steps = 50
	}
	sched, err := d.Config.NoiseSchedule()
	if err != nil {
		return nil, nil, err
	}
	per := d.Config.InChannels * d.Config.Size * d.Config.Size
	noise := diffusion.NewGaussian(opt.Seed)
	var images [][]float32
	traj := &Trajectory{}
	for start := 0; start < opt.N; start += opt.Batch {
		b := min(opt.Batch, opt.N-start)
		var s diffusion.Sampler
		if opt.DDPM {
			dd, err := diffusion.NewDDPM(sched, opt.Steps, noise)
			if err != nil {
				return nil, nil, err
			}
			dd.Clip = 1
			s = dd
		} else {
			dd, err := diffusion.NewDDIM(sched, opt.Steps, 0, noise)
			if err != nil {
				return nil, nil, err
			}
			dd.Clip = 1
			s = dd
		}
		var cb func(diffusion.StepInfo)
		if opt.Every > 0 && start == 0 {
			cb = func(si diffusion.StepInfo) {
				if (si.Index+1)%opt.Every == 0 || si.Index == si.Total-1 || si.Index == 0 {
					traj.Steps = append(traj.Steps, si.Index)
					traj.Timesteps = append(traj.Timesteps, si.T)
					traj.X = append(traj.X, append([]float32(nil), si.X...))
					traj.PredX0 = append(traj.PredX0, append([]float32(nil), si.PredX0...))
				}
			}
		}
		shape := []int{b, d.Config.InChannels, d.Config.Size, d.Config.Size}
		x, err := diffusion.Sample(d.Predict, shape, s, noise, cb)
		if err != nil {
			return nil, nil, err
		}
		for i := range b {
			images = append(images, x[i*per:(i+1)*per])
		}
	}
	return images, traj, nil
}

// Finalize frees the compiled graph (the weights stay in Vars).
func (d *Denoiser) Finalize() { d.exec.Finalize() }

// ToUnit maps images from [-1, 1] to [0, 1] (clipping), and crops each to the centre h x w,
// undoing the padding added for training. It is what a classifier or a picture wants.
func ToUnit(images [][]float32, size, h, w int) [][]float32 {
	top, left := (size-h)/2, (size-w)/2
	out := make([][]float32, len(images))
	for i, img := range images {
		o := make([]float32, h*w)
		for r := range h {
			for c := range w {
				v := (img[(top+r)*size+left+c] + 1) / 2
				o[r*w+c] = min(max(v, 0), 1)
			}
		}
		out[i] = o
	}
	return out
}
