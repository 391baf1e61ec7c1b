package pipeline

import (
	"context"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/sd/schedulers"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// Defaults used when an Options field is zero.
const (
	DefaultSteps    = 50
	DefaultGuidance = 7.5
)

// Options describe one picture. Zero values take the defaults noted.
type Options struct {
	Prompt string
	// NegativePrompt replaces the empty prompt as the direction classifier-free guidance pushes
	// away from.
	NegativePrompt string
	// PromptEmbeds and NegativeEmbeds, when set, are used instead of encoding Prompt and
	// NegativePrompt: [1, 77, width] tensors, e.g. from Embed and Mix.
	PromptEmbeds, NegativeEmbeds *tensors.Tensor

	Steps int // number of scheduler steps; 0 means DefaultSteps
	// Guidance is the classifier-free guidance scale g: the noise prediction is
	// uncond + g·(cond − uncond). 0 means DefaultGuidance; g ≤ 1 switches guidance off (as in
	// diffusers) and the UNet sees only the prompt.
	Guidance  float64
	Seed      uint64 // seeds all noise (see the package documentation)
	Scheduler string // "lms", "ddim", "ddpm", "euler", "euler_ancestral", "pndm"; "" = the model's own
	// Height and Width in pixels, multiples of 8; 0 means the model's DefaultSize (or, for
	// img2img, the init image's size rounded down to a multiple of 8).
	Height, Width int
	// Latents, when set, is the starting noise [1, C, H/8, W/8] instead of a seeded draw
	// (diffusers' latents= argument; it is still multiplied by the scheduler's init noise sigma).
	Latents []float32

	// InitImage turns on img2img: the picture is encoded, noised to the level Strength picks and
	// denoised from there.
	InitImage *Image
	// Strength in [0, 1] is how much of the schedule img2img runs: 1 starts from (almost) pure
	// noise, 0 runs no step and returns the VAE's reconstruction of InitImage.
	Strength float64

	// Guide, when set, steers sampling with the gradient of a loss on the decoded image.
	Guide *LossGuide
	// Callback is called after every step.
	Callback func(Step)
}

// Step is what the callback sees after each denoising step.
type Step struct {
	Index, Total  int       // this step's position in the run (0-based) and the number of steps run
	SchedulerStep int       // index into the scheduler's timesteps (differs from Index in img2img)
	Timestep      float64   // the timestep the UNet was given
	Shape         []int     // latent shape [1, C, h, w]
	ModelInput    []float32 // UNet input, [uncond; cond] latents after ScaleModelInput
	ModelOutput   []float32 // raw UNet output, same layout
	NoisePred     []float32 // guided noise prediction passed to the scheduler
	Latents       []float32 // latents after the step
	PredX0        []float32 // the clean latents predicted at this step
	Loss          float64   // the guide's loss at this step, NaN when it was not evaluated
}

// Result is a finished generation.
type Result struct {
	Image     Image
	Latents   []float32 // final latents [1, C, h, w]
	Shape     []int
	Raw       []float32 // VAE output [1, 3, H, W] before x/2 + 0.5 and clamping
	Timesteps []float64 // the timesteps that were run
}

// run is the state of one Generate call.
type run struct {
	sd      *StableDiffusion
	opts    Options
	h, w    int
	shape   []int
	cfg     bool
	context *tensors.Tensor
	sched   schedulers.Scheduler
	noise   diffusion.Noise
	guide   *guideExec
}

// Generate makes one picture: text-to-image, or img2img when opts.InitImage is set.
func (sd *StableDiffusion) Generate(ctx context.Context, opts Options) (*Result, error) {
	r, err := sd.prepare(opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	sd.release(sd.TextEncoder)
	latents, start, err := r.startLatents()
	if err != nil {
		return nil, err
	}
	if opts.InitImage != nil {
		sd.release(sd.VAE)
	}
	ts := r.sched.Timesteps()
	total := len(ts) - start
	for k := range total {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if latents, err = r.step(k, total, start+k, ts[start+k], latents); err != nil {
			return nil, err
		}
	}
	sd.release(sd.UNet)
	r.close()
	raw, err := sd.DecodeRaw(latents, r.shape)
	if err != nil {
		return nil, err
	}
	sd.release(sd.VAE)
	return &Result{
		Image:     Image{H: r.h, W: r.w, Pix: Clamp01(raw)},
		Latents:   latents,
		Shape:     r.shape,
		Raw:       raw,
		Timesteps: ts[start:],
	}, nil
}

// release frees a network's compiled graph and engine memory between the stages of Generate,
// unless KeepCompiled is set.
func (sd *StableDiffusion) release(m interface{ Release() }) {
	if !sd.KeepCompiled {
		m.Release()
	}
}

// close frees what this run compiled for itself (the loss guide's graph).
func (r *run) close() {
	if r.guide != nil {
		r.guide.exec.Finalize()
		r.guide = nil
	}
}

// prepare checks the options and sets up text, scheduler and noise.
func (sd *StableDiffusion) prepare(opts Options) (*run, error) {
	if opts.Steps == 0 {
		opts.Steps = DefaultSteps
	}
	if opts.Steps < 0 {
		return nil, fmt.Errorf("pipeline: steps = %d, expected a positive number", opts.Steps)
	}
	if opts.Guidance == 0 {
		opts.Guidance = DefaultGuidance
	}
	if math.IsNaN(opts.Guidance) || math.IsInf(opts.Guidance, 0) || opts.Guidance < 0 {
		return nil, fmt.Errorf("pipeline: guidance scale %v, expected a finite number ≥ 0", opts.Guidance)
	}
	if opts.InitImage != nil && (opts.Strength < 0 || opts.Strength > 1 || math.IsNaN(opts.Strength)) {
		return nil, fmt.Errorf("pipeline: strength %v, expected a value in [0, 1]", opts.Strength)
	}
	r := &run{sd: sd, opts: opts, cfg: opts.Guidance > 1}
	h, w, err := sd.size(opts)
	if err != nil {
		return nil, err
	}
	f := sd.Factor()
	r.h, r.w = h, w
	r.shape = []int{1, sd.LatentChannels(), h / f, w / f}

	cond, err := r.text("prompt", opts.Prompt, opts.PromptEmbeds)
	if err != nil {
		return nil, err
	}
	r.context = cond
	if r.cfg {
		uncond, err := r.text("negative prompt", opts.NegativePrompt, opts.NegativeEmbeds)
		if err != nil {
			return nil, err
		}
		if r.context, err = concatBatch(uncond, cond); err != nil {
			return nil, err
		}
	}

	if r.sched, err = sd.NewScheduler(opts.Scheduler); err != nil {
		return nil, err
	}
	if err := r.sched.SetTimesteps(opts.Steps); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	r.noise = diffusion.NewGaussian(opts.Seed)
	if ns, ok := r.sched.(schedulers.NoiseSetter); ok {
		ns.SetNoise(r.noise)
	}
	if opts.Guide != nil {
		if r.guide, err = sd.newGuideExec(opts.Guide); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// size picks and checks the output size.
func (sd *StableDiffusion) size(opts Options) (h, w int, err error) {
	h, w = opts.Height, opts.Width
	if opts.InitImage != nil {
		if err := opts.InitImage.Check(); err != nil {
			return 0, 0, fmt.Errorf("pipeline: init image: %w", err)
		}
		if h == 0 {
			h = opts.InitImage.H / 8 * 8
		}
		if w == 0 {
			w = opts.InitImage.W / 8 * 8
		}
	} else {
		dh, dw := sd.DefaultSize()
		if h == 0 {
			h = dh
		}
		if w == 0 {
			w = dw
		}
	}
	mult := lcm(8, sd.Factor())
	for _, d := range []struct {
		name string
		v    int
	}{{"height", h}, {"width", w}} {
		if d.v <= 0 || d.v%mult != 0 {
			return 0, 0, fmt.Errorf("pipeline: %s %d is not a positive multiple of %d (the VAE works on %d×%d pixel blocks)",
				d.name, d.v, mult, mult, mult)
		}
	}
	return h, w, nil
}

func lcm(a, b int) int {
	g, y := a, b
	for y != 0 {
		g, y = y, g%y
	}
	return a / g * b
}

// text returns the embedding given, or encodes the text.
func (r *run) text(what, text string, given *tensors.Tensor) (*tensors.Tensor, error) {
	if given != nil {
		if err := r.sd.checkEmbedding(what+" embedding", given); err != nil {
			return nil, err
		}
		return given, nil
	}
	return r.sd.embed(what, text)
}

// concatBatch stacks two [1, T, D] tensors into [2, T, D].
func concatBatch(a, b *tensors.Tensor) (*tensors.Tensor, error) {
	x, xs := weights.Float32s(a)
	y, ys := weights.Float32s(b)
	if len(xs) != 3 || len(ys) != 3 || xs[1] != ys[1] || xs[2] != ys[2] {
		return nil, fmt.Errorf("pipeline: prompt and negative prompt embeddings have shapes %v and %v", ys, xs)
	}
	return tensors.FromFlatDataAndDimensions(append(append([]float32{}, x...), y...), 2, xs[1], xs[2]), nil
}

// startLatents returns the latents entering the first step and that step's index.
func (r *run) startLatents() ([]float32, int, error) {
	n := r.shape[1] * r.shape[2] * r.shape[3]
	noise := r.opts.Latents
	if noise != nil {
		if len(noise) != n {
			return nil, 0, fmt.Errorf("pipeline: Latents has %d values, expected %v = %d", len(noise), r.shape, n)
		}
		noise = append([]float32(nil), noise...)
	} else {
		noise = make([]float32, n)
		if err := r.noise.Normal(noise); err != nil {
			return nil, 0, err
		}
	}
	if r.opts.InitImage == nil {
		s := float32(r.sched.InitNoiseSigma())
		for i := range noise {
			noise[i] *= s
		}
		return noise, 0, nil
	}
	x0, err := r.sd.EncodeImage(r.opts.InitImage.Resize(r.h, r.w))
	if err != nil {
		return nil, 0, err
	}
	// diffusers' img2img: skip the first (1 - strength) of the schedule and noise the image to
	// the level of the first step that remains.
	steps := r.opts.Steps
	initT := min(int(float64(steps)*r.opts.Strength), steps)
	start := max(steps-initT, 0)
	ts := r.sched.Timesteps()
	if initT == 0 || start >= len(ts) {
		return x0, len(ts), nil // nothing to run: the reconstruction
	}
	return r.sched.AddNoise(x0, noise, ts[start]), start, nil
}

// step runs the UNet, guidance and one scheduler step.
func (r *run) step(k, total, i int, t float64, x []float32) ([]float32, error) {
	sd := r.sd
	in := r.sched.ScaleModelInput(x, i)
	batch := 1
	if r.cfg {
		batch = 2
		in = append(append(make([]float32, 0, 2*len(in)), in...), in...)
	}
	dims := append([]int{batch}, r.shape[1:]...)
	out, err := sd.UNet.Predict(tensors.FromFlatDataAndDimensions(in, dims...), tensors.FromScalar(float32(t)), r.context)
	if err != nil {
		return nil, fmt.Errorf("pipeline: step %d (t=%g): %w", k, t, err)
	}
	raw, _ := weights.Float32s(out)
	eps := raw
	if r.cfg {
		n := len(x)
		eps = make([]float32, n)
		g := float32(r.opts.Guidance)
		for j := range n {
			u, c := raw[j], raw[n+j]
			eps[j] = u + g*(c-u)
		}
	}
	a, b := r.coefficients(t)
	loss := math.NaN()
	if r.guide != nil && k%r.guide.every == 0 {
		var grad []float32
		if loss, grad, err = r.guide.run(x, eps, r.shape, a, b); err != nil {
			return nil, fmt.Errorf("pipeline: guidance at step %d: %w", k, err)
		}
		// latents -= scale·σ²·∇loss, σ = b/a the noise-to-signal ratio at this step.
		c := r.guide.scale * (b / a) * (b / a)
		x = append([]float32(nil), x...)
		for j := range x {
			x[j] -= float32(c * float64(grad[j]))
		}
	}
	prev, x0, err := r.sched.Step(eps, i, x)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if x0 == nil { // PNDM forms no x0 itself
		x0 = make([]float32, len(x))
		for j := range x {
			x0[j] = float32((float64(x[j]) - b*float64(eps[j])) / a)
		}
	}
	if r.opts.Callback != nil {
		r.opts.Callback(Step{Index: k, Total: total, SchedulerStep: i, Timestep: t, Shape: r.shape,
			ModelInput: in, ModelOutput: raw, NoisePred: eps, Latents: prev, PredX0: x0, Loss: loss})
	}
	return prev, nil
}

// coefficients returns a, b with latents = a·x0 + b·noise at timestep t, read off the
// scheduler's own AddNoise (a = 1, b = σ for σ-schedulers; √ᾱ, √(1-ᾱ) for the others).
func (r *run) coefficients(t float64) (a, b float64) {
	one := r.sched.AddNoise([]float32{1}, []float32{0}, t)
	sig := r.sched.AddNoise([]float32{0}, []float32{1}, t)
	return float64(one[0]), float64(sig[0])
}

// EncodeImage returns the scaled latents [1, C, H/8, W/8] of an image with values in [0, 1]:
// the mean of the VAE encoder's posterior times the scaling factor. (diffusers draws a sample
// from the posterior instead; the trained VAE's posterior is narrow, and the mean keeps
// strength 0 an exact reconstruction.)
func (sd *StableDiffusion) EncodeImage(img Image) ([]float32, error) {
	if err := img.Check(); err != nil {
		return nil, err
	}
	f := sd.Factor()
	if img.H%f != 0 || img.W%f != 0 {
		return nil, fmt.Errorf("pipeline: image %d×%d is not a multiple of %d on each side", img.H, img.W, f)
	}
	px := make([]float32, len(img.Pix))
	for i, v := range img.Pix {
		px[i] = 2*v - 1
	}
	mean, _, err := sd.VAE.Encode(tensors.FromFlatDataAndDimensions(px, 1, 3, img.H, img.W))
	if err != nil {
		return nil, fmt.Errorf("pipeline: encoding the image: %w", err)
	}
	z, _ := weights.Float32s(mean)
	s := float32(sd.ScalingFactor())
	for i := range z {
		z[i] *= s
	}
	return z, nil
}

// DecodeRaw divides latents [1, C, h, w] by the scaling factor and runs the VAE decoder,
// returning its output [1, 3, h·8, w·8] (roughly in [-1, 1]).
func (sd *StableDiffusion) DecodeRaw(latents []float32, shape []int) ([]float32, error) {
	if len(shape) != 4 || shape[0]*shape[1]*shape[2]*shape[3] != len(latents) {
		return nil, fmt.Errorf("pipeline: %d latent values do not fit shape %v", len(latents), shape)
	}
	s := float32(sd.ScalingFactor())
	z := make([]float32, len(latents))
	for i, v := range latents {
		z[i] = v / s
	}
	out, err := sd.VAE.Decode(tensors.FromFlatDataAndDimensions(z, shape...))
	if err != nil {
		return nil, fmt.Errorf("pipeline: decoding: %w", err)
	}
	raw, _ := weights.Float32s(out)
	return raw, nil
}

// Decode turns latents [1, C, h, w] (e.g. Step.PredX0) into a picture.
func (sd *StableDiffusion) Decode(latents []float32, shape []int) (Image, error) {
	raw, err := sd.DecodeRaw(latents, shape)
	if err != nil {
		return Image{}, err
	}
	f := sd.Factor()
	return Image{H: shape[2] * f, W: shape[3] * f, Pix: Clamp01(raw)}, nil
}
