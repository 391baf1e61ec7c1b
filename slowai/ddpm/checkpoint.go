package ddpm

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/safetensors"
)

// Checkpoint file layout (safetensors): the raw weights under their Specs names
// ("down.0.res.conv1.weight"), their moving average under "ema/<name>", and, for a checkpoint
// that can resume training, AdamW's moments under "adam_m/<name>" and "adam_v/<name>".
// Metadata: format, config (JSON), train (JSON), step, loss, seconds, and the state needed to
// resume with exactly the batches and noise an uninterrupted run would have drawn.
const (
	Format    = "slowai-ddpm/1"
	emaPrefix = "ema/"
	mPrefix   = "adam_m/"
	vPrefix   = "adam_v/"
)

// Checkpoint is a loaded checkpoint. EMA, M and V are nil when the file does not hold them.
type Checkpoint struct {
	Config   Config
	Train    TrainConfig
	Step     int
	Loss     float64 // mean loss of the last 100 steps before saving
	Seconds  float64 // training wall time
	Weights  [][]float32
	EMA      [][]float32
	M, V     [][]float32
	Metadata map[string]string
	losses   []float64
}

// Best returns the weights to sample with: the EMA if the checkpoint has one, else the raw weights.
func (c *Checkpoint) Best() [][]float32 {
	if c.EMA != nil {
		return c.EMA
	}
	return c.Weights
}

// Losses returns the per-step loss history stored in the checkpoint (nil if absent).
func (c *Checkpoint) Losses() []float64 { return c.losses }

// SaveCheckpoint writes the trainer's state to path atomically (temporary file + rename).
// withOptimizer keeps the AdamW moments so that training can resume (3x the size of the weights);
// without them the file holds the raw weights and the EMA, enough to sample.
func (tr *Trainer) SaveCheckpoint(path string, withOptimizer bool) error {
	groups := []struct {
		prefix string
		ts     [][]float32
	}{{"", nil}, {emaPrefix, nil}}
	var err error
	if groups[0].ts, err = tr.Weights(); err != nil {
		return err
	}
	if groups[1].ts, err = tr.EMAWeights(); err != nil {
		return err
	}
	if withOptimizer {
		m, err := fromTensors(tr.m)
		if err != nil {
			return err
		}
		v, err := fromTensors(tr.v)
		if err != nil {
			return err
		}
		groups = append(groups, struct {
			prefix string
			ts     [][]float32
		}{mPrefix, m}, struct {
			prefix string
			ts     [][]float32
		}{vPrefix, v})
	}
	var arrays []safetensors.Array
	for _, g := range groups {
		for i, s := range tr.specs {
			arrays = append(arrays, safetensors.F32(g.prefix+s.Name, s.Shape, g.ts[i]))
		}
	}
	losses := make([]float32, len(tr.Losses))
	for i, l := range tr.Losses {
		losses[i] = float32(l)
	}
	arrays = append(arrays, safetensors.F32("losses", []int{len(losses)}, losses))
	pcg, err := tr.pcg.MarshalBinary()
	if err != nil {
		return err
	}
	meta := map[string]string{
		"format":  Format,
		"config":  tr.Config.JSON(),
		"train":   mustJSON(tr.Train),
		"step":    strconv.Itoa(tr.Step),
		"loss":    strconv.FormatFloat(tr.SmoothedLoss(100), 'g', 6, 64),
		"seconds": strconv.FormatFloat(tr.Seconds, 'f', 1, 64),
		"epoch":   strconv.Itoa(tr.epoch),
		"pos":     strconv.Itoa(tr.pos),
		"rng":     hex.EncodeToString(pcg),
		"backend": tr.be.Name(),
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ddpm: saving checkpoint: %w", err)
	}
	if err := safetensors.Save(path, arrays, meta); err != nil {
		return fmt.Errorf("ddpm: saving checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint (or by SaveWeights).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ddpm: %w", err)
	}
	defer f.Close()
	md := f.Metadata
	if md["format"] != Format {
		return nil, fmt.Errorf("ddpm: %s: metadata format %q, expected %q (not a ddpm checkpoint)", path, md["format"], Format)
	}
	ck := &Checkpoint{Metadata: md}
	if err := json.Unmarshal([]byte(md["config"]), &ck.Config); err != nil {
		return nil, fmt.Errorf("ddpm: %s: bad config metadata: %w", path, err)
	}
	if err := ck.Config.Validate(); err != nil {
		return nil, fmt.Errorf("ddpm: %s: %w", path, err)
	}
	if s := md["train"]; s != "" {
		if err := json.Unmarshal([]byte(s), &ck.Train); err != nil {
			return nil, fmt.Errorf("ddpm: %s: bad train metadata: %w", path, err)
		}
	}
	ck.Step, _ = strconv.Atoi(md["step"])
	ck.Loss, _ = strconv.ParseFloat(md["loss"], 64)
	ck.Seconds, _ = strconv.ParseFloat(md["seconds"], 64)
	specs := ck.Config.Specs()
	read := func(prefix string, required bool) ([][]float32, error) {
		if _, ok := f.Info(prefix + specs[0].Name); !ok && !required {
			return nil, nil
		}
		out := make([][]float32, len(specs))
		for i, s := range specs {
			v, shape, err := f.FiniteFloat32(prefix + s.Name)
			if err != nil {
				return nil, fmt.Errorf("ddpm: %s: %w", path, err)
			}
			if !equalInts(shape, s.Shape) {
				return nil, fmt.Errorf("ddpm: %s: tensor %q has shape %v, the config needs %v", path, prefix+s.Name, shape, s.Shape)
			}
			out[i] = v
		}
		return out, nil
	}
	if ck.Weights, err = read("", true); err != nil {
		return nil, err
	}
	if ck.EMA, err = read(emaPrefix, false); err != nil {
		return nil, err
	}
	if ck.M, err = read(mPrefix, false); err != nil {
		return nil, err
	}
	if ck.V, err = read(vPrefix, false); err != nil {
		return nil, err
	}
	if s := md["rng"]; s != "" {
		if err := checkRNG(s); err != nil {
			return nil, fmt.Errorf("ddpm: %s: metadata \"rng\" (the noise generator's state, needed to resume): %w", path, err)
		}
	}
	if _, ok := f.Info("losses"); ok {
		l, _, err := f.Float32("losses")
		if err != nil {
			return nil, fmt.Errorf("ddpm: %s: %w", path, err)
		}
		ck.losses = make([]float64, len(l))
		for i, v := range l {
			ck.losses[i] = float64(v)
		}
	}
	return ck, nil
}

// Resume continues training from a checkpoint saved with its optimizer state. Given the same
// data, the run continues exactly as it would have without the interruption. steps > 0
// replaces the planned number of steps (and so stretches the LR schedule).
func Resume(be compute.Backend, ck *Checkpoint, ds *data.Dataset, steps int) (*Trainer, error) {
	if ck.M == nil || ck.V == nil {
		return nil, fmt.Errorf("ddpm: the checkpoint has no optimizer state; it can be sampled from but not resumed")
	}
	tc := ck.Train.WithDefaults()
	if steps > 0 {
		tc.Steps = steps
	}
	tr, err := newTrainer(be, ck.Config, tc, ds, ck.Weights, ck.M, ck.V, ck.EMA)
	if err != nil {
		return nil, err
	}
	tr.Step, tr.Seconds = ck.Step, ck.Seconds
	tr.Losses = append([]float64(nil), ck.losses...)
	md := ck.Metadata
	tr.epoch, _ = strconv.Atoi(md["epoch"])
	tr.pos, _ = strconv.Atoi(md["pos"])
	if tr.pos > 0 {
		tr.perm = rand.New(rand.NewPCG(tc.Seed^0x9e3779b97f4a7c15, uint64(tr.epoch))).Perm(ds.N)
	}
	if s := md["rng"]; s != "" {
		b, err := hex.DecodeString(s)
		if err == nil {
			err = tr.pcg.UnmarshalBinary(b)
		}
		if err != nil { // LoadCheckpoint already checked it; only a hand-made Checkpoint gets here
			return nil, fmt.Errorf("ddpm: checkpoint rng state: %w", err)
		}
	}
	return tr, nil
}

// checkRNG reports whether s is a hex-encoded PCG state, as SaveCheckpoint writes it.
func checkRNG(s string) error {
	b, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("not hexadecimal: %w", err)
	}
	return new(rand.PCG).UnmarshalBinary(b)
}

// SaveWeights writes weights only (Specs order) with the config, for a small file to sample from,
// and the loss history if losses is not nil. extra metadata is added to the standard keys.
func SaveWeights(path string, cfg Config, weights [][]float32, losses []float64, extra map[string]string) error {
	specs := cfg.Specs()
	if len(weights) != len(specs) {
		return fmt.Errorf("ddpm: SaveWeights: %d arrays for %d parameters", len(weights), len(specs))
	}
	arrays := make([]safetensors.Array, len(specs))
	for i, s := range specs {
		if len(weights[i]) != s.Size() {
			return fmt.Errorf("ddpm: SaveWeights: %q has %d values, want %d", s.Name, len(weights[i]), s.Size())
		}
		arrays[i] = safetensors.F32(s.Name, s.Shape, weights[i])
	}
	if losses != nil {
		l := make([]float32, len(losses))
		for i, v := range losses {
			l[i] = float32(v)
		}
		arrays = append(arrays, safetensors.F32("losses", []int{len(l)}, l))
	}
	meta := map[string]string{"format": Format, "config": cfg.JSON()}
	for k, v := range extra {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ddpm: SaveWeights: %w", err)
	}
	return safetensors.Save(path, arrays, meta)
}
