package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/safetensors"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// GoldenConfig is pipeline/config.json of the golden data: the call that was recorded.
type GoldenConfig struct {
	Prompt         string  `json:"prompt"`
	NegativePrompt *string `json:"negative_prompt"`
	GuidanceScale  float64 `json:"guidance_scale"`
	Steps          int     `json:"num_inference_steps"`
	Height         int     `json:"height"`
	Width          int     `json:"width"`
}

// ReadGoldenConfig reads dir/pipeline/config.json.
func ReadGoldenConfig(dir string) (GoldenConfig, error) {
	path := filepath.Join(dir, "pipeline", "config.json")
	var c GoldenConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("pipeline: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("pipeline: %s: %w", path, err)
	}
	if c.Steps <= 0 || c.Height <= 0 || c.Width <= 0 {
		return c, fmt.Errorf("pipeline: %s: expected positive num_inference_steps, height and width, got %+v", path, c)
	}
	return c, nil
}

// Golden tolerances, from the golden README.
const (
	tolEmbeddings = 1e-4
	tolModel      = 1e-3
	tolTimesteps  = 1e-4
	tolRelative   = 1e-6
)

// CheckGolden reruns the recorded diffusers pipeline call of a golden-layout directory
// (dir/pipeline/config.json, starting from dir/pipeline/io.safetensors' initial_latents) and
// compares every recorded tensor: token ids (exact), text embeddings (1e-4), the scheduler's
// timesteps, sigmas and init noise sigma, the UNet inputs and outputs, guided noise predictions
// and latents of every step (1e-3), the decoder input (1e-3 / scaling factor, as it is the
// latents divided by it), the decoder output and the final image (1e-3; uint8 within 1). report gets one call per tensor; the error lists every failure.
func CheckGolden(dir string, be compute.Backend, report weights.ReportFunc) error {
	cfg, err := ReadGoldenConfig(dir)
	if err != nil {
		return err
	}
	sd, err := Load(dir, be)
	if err != nil {
		return err
	}
	f, err := safetensors.Open(filepath.Join(dir, "pipeline", "io.safetensors"))
	if err != nil {
		return err
	}
	defer f.Close()
	if report == nil {
		report = func(string, float64, float64, bool) {}
	}
	c := &checker{f: f, report: report}
	neg := ""
	if cfg.NegativePrompt != nil {
		neg = *cfg.NegativePrompt
	}

	for _, p := range []struct{ name, text string }{{"cond_input_ids", cfg.Prompt}, {"uncond_input_ids", neg}} {
		ids, err := sd.TokenIDs(p.text)
		if err != nil {
			return err
		}
		c.ints(p.name, ids, []int{1, len(ids)}, 0)
	}
	for _, p := range []struct{ name, text string }{{"prompt_embeds", cfg.Prompt}, {"negative_prompt_embeds", neg}} {
		e, err := sd.Embed(p.text)
		if err != nil {
			return err
		}
		got, shape := weights.Float32s(e)
		c.floats(p.name, got, shape, tolEmbeddings)
	}

	sched, err := sd.NewScheduler("")
	if err != nil {
		return err
	}
	if err := sched.SetTimesteps(cfg.Steps); err != nil {
		return err
	}
	sigma := sched.InitNoiseSigma()
	c.relative("init_noise_sigma", []float64{sigma}, nil)
	c.float64s("timesteps", sched.Timesteps(), tolTimesteps)
	if s, ok := sched.(interface{ Sigmas() []float64 }); ok && c.has("sigmas") {
		c.relative("sigmas", s.Sigmas(), nil)
	}

	init, shape, err := f.Float32("initial_latents")
	if err != nil {
		return err
	}
	var ins, outs, guided, lats []float32
	steps := 0
	res, err := sd.Generate(context.Background(), Options{
		Prompt: cfg.Prompt, NegativePrompt: neg, Guidance: cfg.GuidanceScale, Steps: cfg.Steps,
		Height: cfg.Height, Width: cfg.Width, Latents: init,
		Callback: func(s Step) {
			steps++
			ins = append(ins, s.ModelInput...)
			outs = append(outs, s.ModelOutput...)
			guided = append(guided, s.NoisePred...)
			lats = append(lats, s.Latents...)
		},
	})
	if err != nil {
		return err
	}
	batch := 2
	if cfg.GuidanceScale <= 1 {
		batch = 1
	}
	per := append([]int{steps}, shape...)
	perBatch := append([]int{steps, batch}, shape[1:]...)
	c.floats("unet_inputs", ins, perBatch, tolModel)
	c.floats("unet_outputs", outs, perBatch, tolModel)
	c.floats("guided_noise_pred", guided, per, tolModel)
	c.floats("latents", lats, per, tolModel)
	dec := make([]float32, len(res.Latents))
	for i, v := range res.Latents {
		dec[i] = v / float32(sd.ScalingFactor())
	}
	c.floats("decoder_input", dec, shape, tolModel)
	c.floats("decoded_raw", res.Raw, []int{1, 3, res.Image.H, res.Image.W}, tolModel)
	c.floats("image_float", res.Image.HWC(), []int{1, res.Image.H, res.Image.W, 3}, tolModel)
	b := res.Image.Bytes()
	ib := make([]int, len(b))
	for i, v := range b {
		ib[i] = int(v)
	}
	c.ints("image_uint8", ib, []int{res.Image.H, res.Image.W, 3}, 1)
	return c.err(filepath.Join(dir, "pipeline"))
}

// checker compares results with one reference file and collects failures.
type checker struct {
	f      *safetensors.File
	report weights.ReportFunc
	failed []string
}

func (c *checker) has(name string) bool {
	_, ok := c.f.Info(name)
	return ok
}

func (c *checker) record(name string, d, tol float64, err error) {
	pass := err == nil && d <= tol
	if err != nil {
		d = math.Inf(1)
	}
	c.report(name, d, tol, pass)
	if !pass {
		why := fmt.Sprintf("max abs error %.3g > %.3g", d, tol)
		if err != nil {
			why = err.Error()
		}
		c.failed = append(c.failed, fmt.Sprintf("%s (%s)", name, why))
	}
}

func (c *checker) floats(name string, got []float32, shape []int, tol float64) {
	want, wantShape, err := c.f.Float32(name)
	if err != nil {
		c.record(name, 0, tol, err)
		return
	}
	d, err := weights.MaxAbsDiff(got, shape, want, wantShape)
	c.record(name, d, tol, err)
}

func (c *checker) float64s(name string, got []float64, tol float64) {
	want, wantShape, err := c.f.Float64(name)
	if err != nil {
		c.record(name, 0, tol, err)
		return
	}
	if len(got) != len(want) {
		c.record(name, 0, tol, fmt.Errorf("%d values, want %v", len(got), wantShape))
		return
	}
	d := 0.0
	for i := range got {
		d = max(d, math.Abs(got[i]-want[i]))
		if math.IsNaN(got[i]) {
			d = math.Inf(1)
		}
	}
	c.record(name, d, tol, nil)
}

// relative compares with tolerance tolRelative·max|want|.
func (c *checker) relative(name string, got []float64, _ []int) {
	want, _, err := c.f.Float64(name)
	if err != nil {
		c.record(name, 0, 0, err)
		return
	}
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	tol := tolRelative * max(scale, 1e-30)
	if len(got) != len(want) {
		c.record(name, 0, tol, fmt.Errorf("%d values, want %d", len(got), len(want)))
		return
	}
	d := 0.0
	for i := range got {
		d = max(d, math.Abs(got[i]-want[i]))
	}
	c.record(name, d, tol, nil)
}

func (c *checker) ints(name string, got []int, shape []int, tol int) {
	want, wantShape, err := c.f.Int64(name)
	if err != nil {
		c.record(name, 0, float64(tol), err)
		return
	}
	if !slices.Equal(shape, wantShape) || len(got) != len(want) {
		c.record(name, 0, float64(tol), fmt.Errorf("shape %v, want %v", shape, wantShape))
		return
	}
	d := 0
	for i := range got {
		d = max(d, abs(got[i]-int(want[i])))
	}
	c.record(name, float64(d), float64(tol), nil)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (c *checker) err(where string) error {
	if len(c.failed) == 0 {
		return nil
	}
	return fmt.Errorf("golden %s: %d mismatch(es): %s", where, len(c.failed), strings.Join(c.failed, "; "))
}
