// Package pipeline puts Stable Diffusion v1 together from its parts: the CLIP tokenizer and text
// encoder turn a prompt into 77 vectors, the UNet predicts the noise in a latent image given those
// vectors, a scheduler turns noise predictions into a sequence of less noisy latents, and the VAE
// decoder turns the final latents into pixels.
//
// It follows diffusers' StableDiffusionPipeline (0.25) step for step, so that given the same
// starting latents it reproduces diffusers' tensors to float32 accuracy (see CheckGolden), and
// adds the hooks the course plays with: negative prompts, img2img, guidance by any differentiable
// loss on the decoded image, prompt-embedding arithmetic and a per-step callback.
//
// Random numbers: every draw (the starting latents, img2img's noise, stochastic schedulers' noise)
// comes from one math/rand/v2 PCG generator seeded with Options.Seed (diffusion.NewGaussian),
// float32(NormFloat64()) per value in C order. PyTorch's generator cannot be reproduced, so a seed
// does not give the picture diffusers gives for the same seed; pass diffusers' latents as
// Options.Latents to reproduce one of its runs exactly.
package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/sd/clip"
	"github.com/slowai-go/course/slowai/sd/schedulers"
	"github.com/slowai-go/course/slowai/sd/tokenizer"
	"github.com/slowai-go/course/slowai/sd/unet"
	"github.com/slowai-go/course/slowai/sd/vae"
)

// HowToGetWeights is appended to errors about missing weights.
const HowToGetWeights = "run `make weights` (or `go run ./slowai/cmd/sd weights`) to download CompVis/stable-diffusion-v1-4 into the Hugging Face cache"

// StableDiffusion is a loaded text-to-image model: the four networks plus the scheduler
// configuration. Schedulers are stateful, so each Generate call builds a fresh one from
// SchedulerConfig.
type StableDiffusion struct {
	Tokenizer       *tokenizer.Tokenizer
	TextEncoder     *clip.Model
	UNet            *unet.Model
	VAE             *vae.Model
	SchedulerConfig schedulers.Config
	Backend         compute.Backend

	// KeepCompiled keeps each network's compiled graph, and the working memory the engine holds for
	// it, from one Generate to the next. By default Generate releases the text encoder once the
	// prompt is encoded, the UNet once denoising is done and the VAE after decoding, so that only
	// one network's working memory exists at a time: a 512×512 image then peaks at about 7 GB
	// instead of 9.5 GB (float32 weights, ONNX Runtime), and each Generate spends a few seconds
	// compiling again. Set it when memory is plentiful and many images are made in a row.
	KeepCompiled bool
}

// Paths says where each component lives.
type Paths struct {
	Tokenizer   string // folder with vocab.json + merges.txt (or tokenizer.json)
	TextEncoder string // folder with config.json + model.safetensors
	UNet        string // folder with config.json + diffusion_pytorch_model.safetensors
	VAE         string // folder with config.json + diffusion_pytorch_model.safetensors
	Scheduler   string // a scheduler_config.json file
}

// Locate finds the components in dir, which is either a diffusers repository (the Hugging Face
// snapshot: tokenizer/, text_encoder/, unet/, vae/, scheduler/scheduler_config.json) or the
// golden-data layout (clip_tokenizer/, clip_text/, unet/, vae/, pipeline/scheduler_config.json).
func Locate(dir string) (Paths, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Paths{}, fmt.Errorf("pipeline: weights directory %s does not exist; %s", dir, HowToGetWeights)
		}
		return Paths{}, fmt.Errorf("pipeline: %w", err)
	}
	if !st.IsDir() {
		return Paths{}, fmt.Errorf("pipeline: %s is a file, expected a directory with the model's components", dir)
	}
	layouts := []struct {
		name string
		p    Paths
	}{
		{"diffusers", Paths{
			Tokenizer:   filepath.Join(dir, "tokenizer"),
			TextEncoder: filepath.Join(dir, "text_encoder"),
			UNet:        filepath.Join(dir, "unet"),
			VAE:         filepath.Join(dir, "vae"),
			Scheduler:   filepath.Join(dir, "scheduler", "scheduler_config.json"),
		}},
		{"golden", Paths{
			Tokenizer:   filepath.Join(dir, "clip_tokenizer"),
			TextEncoder: filepath.Join(dir, "clip_text"),
			UNet:        filepath.Join(dir, "unet"),
			VAE:         filepath.Join(dir, "vae"),
			Scheduler:   filepath.Join(dir, "pipeline", "scheduler_config.json"),
		}},
	}
	var reports []string
	for _, l := range layouts {
		missing := l.p.missing()
		if len(missing) == 0 {
			return l.p, nil
		}
		reports = append(reports, fmt.Sprintf("%s layout lacks %s", l.name, strings.Join(missing, ", ")))
	}
	return Paths{}, fmt.Errorf("pipeline: %s holds no complete Stable Diffusion model (%s); %s",
		dir, strings.Join(reports, "; "), HowToGetWeights)
}

// missing lists the component paths that are not there, relative names only.
func (p Paths) missing() []string {
	var out []string
	check := func(path string, isDir bool, what string) {
		st, err := os.Stat(path)
		if err != nil || st.IsDir() != isDir {
			out = append(out, filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path)+what)
		}
	}
	check(p.Tokenizer, true, "/")
	check(filepath.Join(p.TextEncoder, "config.json"), false, "")
	check(filepath.Join(p.UNet, "config.json"), false, "")
	check(filepath.Join(p.VAE, "config.json"), false, "")
	check(p.Scheduler, false, "")
	return out
}

// Load reads every component found in dir (see Locate) onto backend be.
func Load(dir string, be compute.Backend) (*StableDiffusion, error) {
	p, err := Locate(dir)
	if err != nil {
		return nil, err
	}
	return LoadPaths(p, be)
}

// LoadPaths reads the components from explicit locations.
func LoadPaths(p Paths, be compute.Backend) (*StableDiffusion, error) {
	if be == nil {
		return nil, fmt.Errorf("pipeline: nil backend")
	}
	tok, err := tokenizer.Load(p.Tokenizer)
	if err != nil {
		return nil, err
	}
	text, err := clip.Load(p.TextEncoder, be)
	if err != nil {
		return nil, withHint(err)
	}
	u, err := unet.Load(p.UNet, be)
	if err != nil {
		return nil, withHint(err)
	}
	v, err := vae.Load(p.VAE, be)
	if err != nil {
		return nil, withHint(err)
	}
	cfg, err := schedulers.LoadConfig(p.Scheduler)
	if err != nil {
		return nil, err
	}
	return New(tok, text, u, v, cfg, be)
}

// withHint adds the download hint to a "no checkpoint" error.
func withHint(err error) error {
	if strings.Contains(err.Error(), "no checkpoint") {
		return fmt.Errorf("%w; %s", err, HowToGetWeights)
	}
	return err
}

// New assembles a pipeline from loaded components, checking that they fit together: the text
// encoder's width must be the UNet's cross-attention width and the VAE's latent channels the
// UNet's input and output channels.
func New(tok *tokenizer.Tokenizer, text *clip.Model, u *unet.Model, v *vae.Model, schedCfg schedulers.Config, be compute.Backend) (*StableDiffusion, error) {
	if tok == nil || text == nil || u == nil || v == nil {
		return nil, fmt.Errorf("pipeline: every component (tokenizer, text encoder, unet, vae) must be non-nil")
	}
	if schedCfg == nil {
		schedCfg = schedulers.StableDiffusionV1()
	}
	uc := u.Config
	cross, err := uc.CrossAttentionDim.Expand(len(uc.BlockOutChannels))
	if err != nil {
		return nil, fmt.Errorf("pipeline: unet cross_attention_dim: %w", err)
	}
	for _, c := range cross {
		if c != text.Config.HiddenSize {
			return nil, fmt.Errorf("pipeline: unet cross_attention_dim %v does not match the text encoder's hidden_size %d",
				cross, text.Config.HiddenSize)
		}
	}
	lc := v.Config.LatentChannels
	if uc.InChannels != lc || uc.OutChannels != lc {
		return nil, fmt.Errorf("pipeline: unet in/out channels %d/%d do not match the vae's latent_channels %d",
			uc.InChannels, uc.OutChannels, lc)
	}
	if tok.MaxLen() > text.Config.MaxPositionEmbeddings {
		return nil, fmt.Errorf("pipeline: tokenizer model_max_length %d exceeds the text encoder's max_position_embeddings %d",
			tok.MaxLen(), text.Config.MaxPositionEmbeddings)
	}
	if v.Config.ScalingFactor == 0 {
		return nil, fmt.Errorf("pipeline: vae scaling_factor is 0")
	}
	sd := &StableDiffusion{Tokenizer: tok, TextEncoder: text, UNet: u, VAE: v, SchedulerConfig: schedCfg, Backend: be}
	if _, err := sd.NewScheduler(""); err != nil {
		return nil, err
	}
	return sd, nil
}

// NewScheduler builds a fresh scheduler from SchedulerConfig: the named one ("lms", "ddim",
// "ddpm", "euler", "euler_ancestral", "pndm"), or the config's own _class_name when name is ""
// (LMS if the config names none). Keys the config lacks take Stable Diffusion v1's values
// (schedulers.StableDiffusionV1: no sample clipping, PNDM without the Runge-Kutta warm-up)
// rather than each class's library defaults, so any scheduler can be swapped in.
func (sd *StableDiffusion) NewScheduler(name string) (schedulers.Scheduler, error) {
	if name == "" {
		class, _ := sd.SchedulerConfig["_class_name"].(string)
		if class == "" {
			name = "lms"
		} else {
			n, err := schedulers.NameForClass(class)
			if err != nil {
				return nil, fmt.Errorf("pipeline: %w", err)
			}
			name = n
		}
	}
	cfg := schedulers.StableDiffusionV1()
	for k, v := range sd.SchedulerConfig {
		cfg[k] = v
	}
	s, err := schedulers.New(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return s, nil
}

// Factor is how many pixels one latent spans along each side (8 for SD v1).
func (sd *StableDiffusion) Factor() int { return sd.VAE.Config.Factor() }

// LatentChannels is the number of latent channels (4 for SD v1).
func (sd *StableDiffusion) LatentChannels() int { return sd.VAE.Config.LatentChannels }

// ScalingFactor is what latents are multiplied by after encoding and divided by before decoding
// (0.18215 for SD v1), bringing them to roughly unit variance for the UNet.
func (sd *StableDiffusion) ScalingFactor() float64 { return sd.VAE.Config.ScalingFactor }

// DefaultSize is the image size the UNet was trained for: its sample_size times the VAE factor
// (512×512 for SD v1).
func (sd *StableDiffusion) DefaultSize() (height, width int) {
	h, w := 64, 64
	switch s := sd.UNet.Config.SampleSize.(type) {
	case float64:
		h, w = int(s), int(s)
	case int:
		h, w = s, s
	case []any:
		if len(s) == 2 {
			if a, ok := s[0].(float64); ok {
				h = int(a)
			}
			if b, ok := s[1].(float64); ok {
				w = int(b)
			}
		}
	}
	f := sd.Factor()
	return h * f, w * f
}

// Summary describes the components in a few lines, for notebooks and the CLI.
func (sd *StableDiffusion) Summary() string {
	var b strings.Builder
	h, w := sd.DefaultSize()
	tc, uc, vc := sd.TextEncoder.Config, sd.UNet.Config, sd.VAE.Config
	fmt.Fprintf(&b, "tokenizer:    %d tokens in the vocabulary, prompts padded to %d\n", sd.Tokenizer.VocabSize(), sd.Tokenizer.MaxLen())
	fmt.Fprintf(&b, "text encoder: %d layers of width %d, %s parameters\n", tc.NumHiddenLayers, tc.HiddenSize, count(sd.TextEncoder.Specs.NumParams()))
	fmt.Fprintf(&b, "unet:         channels %v, %s parameters\n", uc.BlockOutChannels, count(sd.UNet.Specs.NumParams()))
	fmt.Fprintf(&b, "vae:          channels %v, %d latent channels, %d× smaller per side, %s parameters\n",
		vc.BlockOutChannels, vc.LatentChannels, sd.Factor(), count(sd.VAE.Specs.NumParams()))
	class, _ := sd.SchedulerConfig["_class_name"].(string)
	fmt.Fprintf(&b, "scheduler:    %s\n", class)
	fmt.Fprintf(&b, "default size: %d×%d pixels = %d×%d×%d latents", h, w, vc.LatentChannels, h/sd.Factor(), w/sd.Factor())
	return b.String()
}

func count(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// NewRandomSD1 builds Stable Diffusion v1 at full size with seeded random weights and the
// tokenizer found in tokDir: the same computation, memory and time as the real model, for
// benchmarks on machines without the checkpoint. Its pictures are noise.
func NewRandomSD1(tokDir string, be compute.Backend, seed uint64) (*StableDiffusion, error) {
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		return nil, err
	}
	text, err := clip.NewRandom(clip.SD1Config(), be, seed)
	if err != nil {
		return nil, err
	}
	u, err := unet.NewRandom(unet.SD1Config(), be, seed+1)
	if err != nil {
		return nil, err
	}
	v, err := vae.NewRandom(vae.SD1Config(), be, seed+2)
	if err != nil {
		return nil, err
	}
	return New(tok, text, u, v, schedulers.StableDiffusionV1(), be)
}
