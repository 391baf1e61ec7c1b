package pipeline

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/safetensors"
	"github.com/slowai-go/course/slowai/sd/weights"
)

var (
	tinyOnce sync.Once
	tinySD   *StableDiffusion
	tinyErr  error
)

// tiny loads the tiny random model once for all tests (each test makes its own calls, and the
// compiled graphs are shared).
func tiny(t *testing.T) *StableDiffusion {
	t.Helper()
	tinyOnce.Do(func() { tinySD, tinyErr = Load(tinyDir, goBackend(t)) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinySD
}

func generate(t *testing.T, sd *StableDiffusion, o Options) *Result {
	t.Helper()
	r, err := sd.Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want one mentioning %q", parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestErrors(t *testing.T) {
	sd := tiny(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		opts  Options
		parts []string
	}{
		{"height not multiple of 8", Options{Height: 30, Width: 32}, []string{"height 30", "multiple of 8"}},
		{"negative width", Options{Height: 32, Width: -8}, []string{"width -8"}},
		{"prompt not UTF-8", Options{Prompt: "a \xff cat"}, []string{"prompt is not valid UTF-8"}},
		{"negative prompt not UTF-8", Options{NegativePrompt: "\xc3("}, []string{"negative prompt is not valid UTF-8"}},
		{"steps", Options{Steps: -3}, []string{"steps = -3"}},
		{"guidance", Options{Guidance: math.NaN()}, []string{"guidance"}},
		{"strength", Options{InitImage: &Image{H: 32, W: 32, Pix: make([]float32, 3*32*32)}, Strength: 1.5}, []string{"strength 1.5"}},
		{"init image size", Options{InitImage: &Image{H: 32, W: 32, Pix: make([]float32, 5)}, Strength: 0.5}, []string{"init image", "32×32"}},
		{"latents length", Options{Latents: make([]float32, 7)}, []string{"Latents has 7 values"}},
		{"scheduler", Options{Scheduler: "heun"}, []string{"heun"}},
		{"embedding shape", Options{PromptEmbeds: tensors.FromFlatDataAndDimensions(make([]float32, 77*5), 1, 77, 5)}, []string{"prompt embedding", "[1 77 5]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Steps = cmp(c.opts.Steps, 2)
			_, err := sd.Generate(ctx, c.opts)
			wantErr(t, err, c.parts...)
		})
	}
	// A cancelled context stops before the first step.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := sd.Generate(cctx, Options{Steps: 2})
	wantErr(t, err, "canceled")
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func TestLoadErrors(t *testing.T) {
	be := goBackend(t)
	_, err := Load(filepath.Join(t.TempDir(), "nope"), be)
	wantErr(t, err, "does not exist", "make weights")
	_, err = Load(t.TempDir(), be)
	wantErr(t, err, "no complete Stable Diffusion model", "text_encoder/config.json", "clip_text/config.json", "make weights")

	// A diffusers layout whose unet folder has a config but no weights.
	dir := diffusersLayout(t)
	os.Remove(filepath.Join(dir, "unet"))
	os.MkdirAll(filepath.Join(dir, "unet"), 0o755)
	data, _ := os.ReadFile(filepath.Join(tinyDir, "unet", "config.json"))
	os.WriteFile(filepath.Join(dir, "unet", "config.json"), data, 0o644)
	_, err = Load(dir, be)
	wantErr(t, err, "no checkpoint", "make weights")
}

// diffusersLayout arranges the tiny components like a Hugging Face snapshot.
func diffusersLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	abs, _ := filepath.Abs(tinyDir)
	for to, from := range map[string]string{"tokenizer": "clip_tokenizer", "text_encoder": "clip_text", "unet": "unet", "vae": "vae"} {
		if err := os.Symlink(filepath.Join(abs, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "scheduler"), 0o755)
	data, err := os.ReadFile(filepath.Join(tinyDir, "pipeline", "scheduler_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "scheduler", "scheduler_config.json"), data, 0o644)
	return dir
}

func TestDiffusersLayout(t *testing.T) {
	dir := diffusersLayout(t)
	p, err := Locate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.TextEncoder != filepath.Join(dir, "text_encoder") {
		t.Errorf("Locate: %+v", p)
	}
	sd, err := Load(dir, goBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	if h, w := sd.DefaultSize(); h != 32 || w != 32 {
		t.Errorf("DefaultSize %d×%d, want 32×32 (sample_size 16 × factor 2)", h, w)
	}
	if !strings.Contains(sd.Summary(), "LMSDiscreteScheduler") {
		t.Errorf("Summary:\n%s", sd.Summary())
	}
}

// TestSeedsAndPrompts: a seed repeats, another seed and a negative prompt change the picture, and
// passing embeddings is the same as passing the text.
func TestSeedsAndPrompts(t *testing.T) {
	sd := tiny(t)
	base := Options{Prompt: "a puppy", Steps: 2, Seed: 1}
	a := generate(t, sd, base)
	b := generate(t, sd, base)
	if !slices.Equal(a.Latents, b.Latents) {
		t.Error("the same seed gave different latents")
	}
	// Generate released the compiled networks after a and recompiled them for b; keeping them
	// compiled must not change anything either.
	sd.KeepCompiled = true
	kept := generate(t, sd, base)
	kept2 := generate(t, sd, base)
	sd.KeepCompiled = false
	if !slices.Equal(a.Latents, kept.Latents) || !slices.Equal(a.Latents, kept2.Latents) || !slices.Equal(a.Raw, kept2.Raw) {
		t.Error("KeepCompiled changed the result")
	}
	o := base
	o.Seed = 2
	if c := generate(t, sd, o); weights.MaxAbs(a.Latents, c.Latents) < 1e-3 {
		t.Error("another seed gave the same latents")
	}
	o = base
	o.NegativePrompt = "blurry"
	neg := generate(t, sd, o)
	if weights.MaxAbs(a.Latents, neg.Latents) < 1e-4 {
		t.Error("the negative prompt changed nothing")
	}
	pe, err := sd.Embed("a puppy")
	if err != nil {
		t.Fatal(err)
	}
	ne, err := sd.Embed("blurry")
	if err != nil {
		t.Fatal(err)
	}
	o = Options{PromptEmbeds: pe, NegativeEmbeds: ne, Steps: 2, Seed: 1}
	if e := generate(t, sd, o); !slices.Equal(e.Latents, neg.Latents) {
		t.Error("embeddings passed directly differ from encoding the same prompts")
	}
}

// TestGuidanceOff: with g ≤ 1 the UNet runs once per step on the prompt alone and its output
// is the noise prediction.
func TestGuidanceOff(t *testing.T) {
	sd := tiny(t)
	steps := 0
	generate(t, sd, Options{Prompt: "a koala", Steps: 2, Guidance: 1, Callback: func(s Step) {
		steps++
		if len(s.ModelInput) != len(s.Latents) || !slices.Equal(s.ModelOutput, s.NoisePred) {
			t.Errorf("step %d: input %d values for %d latents; output equals prediction: %v",
				s.Index, len(s.ModelInput), len(s.Latents), slices.Equal(s.ModelOutput, s.NoisePred))
		}
	}})
	if steps != 2 {
		t.Errorf("%d callbacks, want 2", steps)
	}
}

// TestGuidanceFormula checks uncond + g·(cond − uncond) on the UNet's two outputs.
func TestGuidanceFormula(t *testing.T) {
	sd := tiny(t)
	generate(t, sd, Options{Prompt: "a koala", Steps: 1, Guidance: 3, Callback: func(s Step) {
		n := len(s.Latents)
		for j := range n {
			u, c := s.ModelOutput[j], s.ModelOutput[n+j]
			if want := u + 3*(c-u); math.Abs(float64(want-s.NoisePred[j])) > 1e-5 {
				t.Fatalf("guided[%d] = %g, want %g", j, s.NoisePred[j], want)
			}
		}
	}})
}

// TestSchedulers runs every scheduler for two steps (guidance off, to halve the UNet work).
func TestSchedulers(t *testing.T) {
	sd := tiny(t)
	for _, name := range []string{"lms", "ddim", "ddpm", "euler", "euler_ancestral", "pndm"} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			r := generate(t, sd, Options{Prompt: "a cat", Steps: 2, Guidance: 1, Scheduler: name,
				Callback: func(s Step) {
					calls++
					if len(s.PredX0) != len(s.Latents) {
						t.Errorf("step %d: pred x0 has %d values", s.Index, len(s.PredX0))
					}
				}})
			if want := len(r.Timesteps); calls != want || calls < 2 {
				t.Errorf("%d callbacks for %d timesteps", calls, want)
			}
			for _, v := range r.Latents {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatal("non-finite latents")
				}
			}
		})
	}
}

// TestSize makes a non-square picture of a size the model was not built for.
func TestSize(t *testing.T) {
	sd := tiny(t)
	r := generate(t, sd, Options{Prompt: "a cat", Steps: 1, Guidance: 1, Height: 48, Width: 40,
		Callback: func(s Step) {
			if !slices.Equal(s.Shape, []int{1, 4, 24, 20}) {
				t.Errorf("latent shape %v, want [1 4 24 20]", s.Shape)
			}
		}})
	if r.Image.H != 48 || r.Image.W != 40 || len(r.Image.Pix) != 3*48*40 {
		t.Errorf("image %d×%d", r.Image.H, r.Image.W)
	}
}

// vaeGolden reads the VAE's recorded input image and its reconstruction.
func vaeGolden(t *testing.T) (img Image, recon []float32) {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(tinyDir, "vae", "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, shape, err := f.Float32("image") // [1, 3, H, W] in [-1, 1]
	if err != nil {
		t.Fatal(err)
	}
	img = Image{H: shape[2], W: shape[3], Pix: make([]float32, len(x))}
	for i, v := range x {
		img.Pix[i] = (v + 1) / 2
	}
	recon, _, err = f.Float32("reconstruction")
	if err != nil {
		t.Fatal(err)
	}
	return img, recon
}

// TestImg2ImgStrengthZero: no steps run and the result is the VAE's reconstruction.
func TestImg2ImgStrengthZero(t *testing.T) {
	sd := tiny(t)
	img, recon := vaeGolden(t)
	calls := 0
	r := generate(t, sd, Options{Prompt: "x", InitImage: &img, Strength: 0, Steps: 10, Callback: func(Step) { calls++ }})
	if calls != 0 || len(r.Timesteps) != 0 {
		t.Errorf("strength 0 ran %d steps", calls)
	}
	if d := weights.MaxAbs(r.Raw, recon); d > 1e-3 {
		t.Errorf("strength 0 output differs from the VAE reconstruction by %g", d)
	}
}

// TestImg2ImgStart: strength s with N steps runs the last int(N·s) steps, starting from the
// image's latents noised to the first of them (zero noise here, so exactly the latents).
func TestImg2ImgStart(t *testing.T) {
	sd := tiny(t)
	img, _ := vaeGolden(t)
	x0, err := sd.EncodeImage(img)
	if err != nil {
		t.Fatal(err)
	}
	sched, _ := sd.NewScheduler("")
	sched.SetTimesteps(10)
	ts := sched.Timesteps()
	var first *Step
	calls := 0
	r := generate(t, sd, Options{Prompt: "x", InitImage: &img, Strength: 0.55, Steps: 10, Latents: make([]float32, len(x0)),
		Callback: func(s Step) {
			if calls == 0 {
				first = &s
			}
			calls++
		}})
	if calls != 5 || !slices.Equal(r.Timesteps, ts[5:]) || first.SchedulerStep != 5 || first.Total != 5 {
		t.Fatalf("ran %d steps over %v, want 5 over %v", calls, r.Timesteps, ts[5:])
	}
	want := sched.ScaleModelInput(x0, 5)
	if d := weights.MaxAbs(first.ModelInput[:len(x0)], want); d > 1e-6 {
		t.Errorf("first UNet input differs from the scaled image latents by %g", d)
	}
	// With real noise the start is x0 + σ·noise: the difference from x0 scales with σ.
	noise := make([]float32, len(x0))
	for i := range noise {
		noise[i] = 1
	}
	noisy := sched.AddNoise(x0, noise, ts[5])
	sig := sched.(interface{ Sigmas() []float64 }).Sigmas()[5]
	if d := float64(noisy[0] - x0[0]); math.Abs(d-sig) > 1e-4 {
		t.Errorf("AddNoise moved by %g, want σ = %g", d, sig)
	}
}

// TestBlueLoss: guiding by the blue loss lowers it compared with the same run unguided.
func TestBlueLoss(t *testing.T) {
	sd := tiny(t)
	const target = 0.9
	blue := func(im Image) float64 {
		n := im.H * im.W
		s := 0.0
		for _, v := range im.Pix[2*n:] {
			s += math.Abs(float64(v) - target)
		}
		return s / float64(n)
	}
	base := Options{Prompt: "a puppy", Steps: 4, Seed: 3}
	plain := generate(t, sd, base)
	o := base
	o.Guide = &LossGuide{Loss: BlueLoss(target), Scale: 1e4, Every: 2}
	var losses []float64
	o.Callback = func(s Step) { losses = append(losses, s.Loss) }
	guided := generate(t, sd, o)
	lp, lg := blue(plain.Image), blue(guided.Image)
	t.Logf("blue loss: unguided %.4f, guided %.4f; per step %v", lp, lg, losses)
	if lg >= lp-0.005 {
		t.Errorf("guidance did not lower the blue loss: %.4f -> %.4f", lp, lg)
	}
	for i, l := range losses {
		if evaluated := !math.IsNaN(l); evaluated != (i%2 == 0) {
			t.Errorf("step %d: loss %v, want it evaluated every 2nd step", i, l)
		}
	}
}

func TestMix(t *testing.T) {
	a := tensors.FromFlatDataAndDimensions([]float32{0, 2, 4}, 1, 1, 3)
	b := tensors.FromFlatDataAndDimensions([]float32{4, 2, 0}, 1, 1, 3)
	for _, c := range []struct {
		w    float64
		want []float32
	}{{0, []float32{0, 2, 4}}, {1, []float32{4, 2, 0}}, {0.25, []float32{1, 2, 3}}} {
		m, err := Mix(a, b, c.w)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := weights.Float32s(m); !slices.Equal(got, c.want) {
			t.Errorf("Mix(w=%g) = %v, want %v", c.w, got, c.want)
		}
	}
	_, err := Mix(a, tensors.FromFlatDataAndDimensions([]float32{1, 2}, 1, 1, 2), 0.5)
	wantErr(t, err, "shapes")
}

func TestImageHelpers(t *testing.T) {
	im := Image{H: 1, W: 2, Pix: []float32{0, 1, 0.5, 2.5 / 255, 1.5 / 255, -1}}
	if got := im.HWC(); !slices.Equal(got, []float32{0, 0.5, 1.5 / 255, 1, 2.5 / 255, -1}) {
		t.Errorf("HWC = %v", got)
	}
	// Rounding half to even like numpy: 127.5 -> 128, 2.5 -> 2, 1.5 -> 2; clamped at 0.
	if got := im.Bytes(); !slices.Equal(got, []uint8{0, 128, 2, 255, 2, 0}) {
		t.Errorf("Bytes = %v", got)
	}
	back := FromImage(im.RGBA())
	if back.H != 1 || back.W != 2 || math.Abs(float64(back.Pix[1])-1) > 1e-6 || back.Pix[3] != 2.0/255 {
		t.Errorf("FromImage(RGBA) = %+v", back)
	}
	flat := Image{H: 3, W: 5, Pix: slices.Repeat([]float32{0.25}, 45)}
	r := flat.Resize(8, 2)
	for _, v := range r.Pix {
		if math.Abs(float64(v)-0.25) > 1e-7 {
			t.Fatalf("resizing a flat image gave %v", v)
		}
	}
	path := filepath.Join(t.TempDir(), "x.png")
	old := syscall.Umask(0o022)
	err := im.WritePNG(path)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("PNG written under umask 022: mode %v (%v), want -rw-r--r--", st.Mode(), err)
	}
	got, err := ReadImage(path)
	if err != nil || !slices.Equal(got.Bytes(), im.Bytes()) {
		t.Errorf("PNG round trip: %v, %v", got.Bytes(), err)
	}
}

// TestLessonDir: quick mode, and a cache without the real weights, both fall back to the tiny
// model and say how to get the real one.
func TestLessonDir(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	for _, quick := range []string{"1", ""} {
		t.Setenv("SLOWAI_QUICK", quick)
		dir, real, note, err := LessonDir()
		if err != nil {
			t.Fatal(err)
		}
		if real || !strings.HasSuffix(dir, filepath.Join("testdata", "tiny")) || !strings.Contains(note, "make weights") {
			t.Errorf("quick=%q: dir %s, real %v, note %q", quick, dir, real, note)
		}
	}
}

// BenchmarkTinyGenerate times a whole 5-step text-to-image run of the tiny model (text encoding,
// 5 guided UNet steps, decoding) on the pure-Go backend: the pipeline's own overhead.
func BenchmarkTinyGenerate(b *testing.B) {
	sd, err := Load(tinyDir, goBackend(b))
	if err != nil {
		b.Fatal(err)
	}
	o := Options{Prompt: "a photo of a giraffe in Paris", Steps: 5}
	if _, err := sd.Generate(context.Background(), o); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := sd.Generate(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
