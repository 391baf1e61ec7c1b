package ddpm

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/safetensors"
)

// Two kinds of file hold a denoiser:
//
//   - a training checkpoint, written by learn.Learner.Save with Meta (format learn.Format):
//     weights, AdamW's moments, the EMA, the loaders' and generator's state and the loss history,
//     everything needed to resume; its tensors are named by store path ("/ema/down/0/res/conv1/weight");
//   - a weights file (format Format), which SaveWeights writes from a training checkpoint's EMA
//     (`ddpm export`): the weights under their PyTorch names ("down.0.res.conv1.weight") and the
//     loss history ("losses"), a quarter of the size. data/checkpoints/ddpm_fashion.safetensors is one.
//
// Both carry the config (JSON) in their metadata, and LoadWeights and LoadDenoiser read either.

// Format is the "format" metadata of a weights file.
const Format = "slowai-ddpm/1"

// Checkpoint is what a file says about its denoiser: configs, progress and loss history.
type Checkpoint struct {
	Config   Config
	Train    TrainConfig
	Step     int
	Loss     float64 // mean loss of the last 100 steps before saving
	Seconds  float64 // training wall time, when the trainer recorded it
	Metadata map[string]string
	losses   []float64
}

// Losses returns the per-step loss history stored in the file (nil if absent).
func (c *Checkpoint) Losses() []float64 { return c.losses }

// LoadCheckpoint reads the metadata and loss history of a weights file or a training checkpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ddpm: %w", err)
	}
	defer f.Close()
	md := f.Metadata
	if md["format"] != Format && md["format"] != learn.Format {
		return nil, fmt.Errorf("ddpm: %s: metadata format %q, expected %q or %q (not a ddpm checkpoint)", path, md["format"], Format, learn.Format)
	}
	ck := &Checkpoint{Metadata: md}
	if err := json.Unmarshal([]byte(md["config"]), &ck.Config); err != nil {
		return nil, fmt.Errorf("ddpm: %s: bad config metadata %q: %w", path, md["config"], err)
	}
	if err := ck.Config.Validate(); err != nil {
		return nil, fmt.Errorf("ddpm: %s: %w", path, err)
	}
	if s := md["train"]; s != "" {
		if err := json.Unmarshal([]byte(s), &ck.Train); err != nil {
			return nil, fmt.Errorf("ddpm: %s: bad train metadata: %w", path, err)
		}
	}
	ck.Seconds, _ = strconv.ParseFloat(md["seconds"], 64)
	if md["format"] == learn.Format {
		var pos struct{ Step int }
		var rec learn.Recorder
		if err := json.Unmarshal([]byte(md["position"]), &pos); err != nil {
			return nil, fmt.Errorf("ddpm: %s: bad position metadata: %w", path, err)
		}
		if s := md["callback/recorder"]; s != "" {
			if err := json.Unmarshal([]byte(s), &rec); err != nil {
				return nil, fmt.Errorf("ddpm: %s: bad loss history: %w", path, err)
			}
		}
		ck.Step, ck.losses = pos.Step, rec.Losses
	} else {
		ck.Step, _ = strconv.Atoi(md["step"])
		if _, ok := f.Info("losses"); ok {
			l, _, err := f.Float32("losses")
			if err != nil {
				return nil, fmt.Errorf("ddpm: %s: %w", path, err)
			}
			for _, v := range l {
				ck.losses = append(ck.losses, float64(v))
			}
		}
	}
	ck.Loss = SmoothedLoss(ck.losses, 100)
	if s, ok := md["loss"]; ok && ck.losses == nil {
		ck.Loss, _ = strconv.ParseFloat(s, 64)
	}
	return ck, nil
}

// LoadWeights loads the denoiser of cfg from path into v: a weights file's weights, or a training
// checkpoint's EMA (its raw weights when raw). Everything else in the file is skipped. A NaN or
// infinite weight (a diverged run, a damaged file) is refused, naming the file and the tensor.
func LoadWeights(v module.Vars, path string, cfg Config, raw bool) error {
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return err
	}
	opts := module.Options{Ignore: func(name string) bool { return name == "losses" }, Finite: true}
	if ck.Metadata["format"] == learn.Format {
		prefix := "/ema/"
		if raw {
			prefix = "/model/"
		}
		opts = module.Options{
			Ignore: func(name string) bool { return !strings.HasPrefix(name, prefix) },
			Rename: func(name string) string {
				return strings.ReplaceAll(strings.TrimPrefix(name, prefix), "/", ".")
			},
			Finite: true,
		}
	} else if raw && ck.Metadata["weights"] == "ema" {
		return fmt.Errorf("ddpm: %s holds only the EMA weights; -raw needs a training checkpoint", path)
	}
	if err := module.LoadFile(v, path, NewUNet(cfg).Specs(), opts); err != nil {
		return fmt.Errorf("ddpm: %w", err)
	}
	return nil
}

// SaveWeights writes the weights of cfg's network in v (the EMA of a Learner: Learner.EMAVars())
// as a weights file, with the loss history if losses is not nil; meta adds metadata.
func SaveWeights(path string, cfg Config, v module.Vars, losses []float64, meta map[string]string) error {
	var extra []safetensors.Array
	if losses != nil {
		l := make([]float32, len(losses))
		for i, x := range losses {
			l[i] = float32(x)
		}
		extra = append(extra, safetensors.F32("losses", []int{len(l)}, l))
	}
	md := maps.Clone(meta)
	if md == nil {
		md = map[string]string{}
	}
	md["format"], md["config"] = Format, cfg.JSON()
	if err := module.SaveFile(v, path, NewUNet(cfg).Specs(), extra, md); err != nil {
		return fmt.Errorf("ddpm: SaveWeights: %w", err)
	}
	return nil
}
