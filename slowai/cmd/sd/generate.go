package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/progress"
	"github.com/slowai-go/course/slowai/sd/hub"
	"github.com/slowai-go/course/slowai/sd/pipeline"
)

func generate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	prompt := fs.String("prompt", "", "what to draw (required)")
	negative := fs.String("negative", "", "negative prompt: what to steer away from")
	steps := fs.Int("steps", pipeline.DefaultSteps, "number of denoising steps")
	guidance := fs.Float64("guidance", pipeline.DefaultGuidance, "classifier-free guidance scale (≤ 1 turns it off)")
	seed := fs.Uint64("seed", 0, "seed of the starting noise (Go's PCG generator; it does not reproduce PyTorch's)")
	sched := fs.String("scheduler", "", "lms, ddim, ddpm, euler, euler_ancestral or pndm (default: the model's own)")
	size := fs.String("size", "", "WxH or N (N×N) in pixels, multiples of 8 (default: the model's, 512 for SD v1)")
	initImage := fs.String("init-image", "", "PNG/JPEG to start from (img2img)")
	strength := fs.Float64("strength", 0.8, "img2img: how much of the schedule to run, 0 (keep the image) to 1 (ignore it)")
	weightsDir := fs.String("weights", "", "model directory (diffusers layout or golden layout); default: the Hugging Face cache")
	repo := fs.String("repo", hub.DefaultRepo, "Hugging Face repository to find in the cache")
	revision := fs.String("revision", "main", "revision of -repo")
	out := fs.String("out", "out.png", "where to write the PNG")
	beName := fs.String("backend", "", "go, onnx or xla (default: the fastest available)")
	random := fs.Bool("random", false, "use full-size SD v1 networks with random weights instead of a checkpoint (for timing and memory; the picture is noise)")
	tokDir := fs.String("tokenizer", "slowai/sd/tokenizer/testdata", "with -random: folder with the CLIP vocab.json and merges.txt")
	mem := fs.Bool("mem", false, "print resident memory after loading and after each step, and the peak at the end (Linux)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("generate: unexpected arguments %q", fs.Args())
	}
	if *prompt == "" {
		return fmt.Errorf("generate: -prompt is required")
	}
	opts := pipeline.Options{Prompt: *prompt, NegativePrompt: *negative, Steps: *steps, Guidance: *guidance,
		Seed: *seed, Scheduler: *sched}
	if *guidance == 0 {
		opts.Guidance = 1 // 0 means "default" in Options; on the command line it means no guidance
	}
	if *size != "" {
		h, w, err := parseSize(*size)
		if err != nil {
			return err
		}
		if h%8 != 0 || w%8 != 0 {
			return fmt.Errorf("generate: -size %q: width and height must be multiples of 8", *size)
		}
		opts.Height, opts.Width = h, w
	}
	if *initImage != "" {
		img, err := pipeline.ReadImage(*initImage)
		if err != nil {
			return err
		}
		opts.InitImage, opts.Strength = &img, *strength
	}
	dir := *weightsDir
	if dir == "" && !*random {
		d, err := hub.CachedDir(*repo, *revision)
		if err != nil {
			return fmt.Errorf("generate: no complete copy of %s in the Hugging Face cache (%v); %s, or pass -weights DIR",
				*repo, err, pipeline.HowToGetWeights)
		}
		dir = d
	}
	be, err := newBackend(*beName)
	if err != nil {
		return err
	}
	start := time.Now()
	var sd *pipeline.StableDiffusion
	if *random {
		sd, err = pipeline.NewRandomSD1(*tokDir, be, *seed)
		dir = "random SD v1 weights"
	} else {
		sd, err = pipeline.Load(dir, be)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loaded %s in %.1fs\n", dir, time.Since(start).Seconds())
	if *mem {
		printMemory("after loading")
	}
	var bar *progress.Bar
	opts.Callback = func(s pipeline.Step) {
		if bar == nil {
			bar = progress.NewTo(os.Stderr, "denoising", int64(s.Total))
		}
		bar.SetSuffix("t=%.0f", s.Timestep)
		bar.Add(1)
		if *mem {
			printMemory(fmt.Sprintf("after step %d", s.Index+1))
		}
	}
	start = time.Now()
	res, err := sd.Generate(ctx, opts)
	if bar != nil {
		bar.Done()
	}
	if err != nil {
		return err
	}
	if err := res.Image.WritePNG(*out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d×%d, %d steps in %.1fs)\n", *out, res.Image.W, res.Image.H, len(res.Timesteps), time.Since(start).Seconds())
	if *mem {
		printMemory("at the end")
	}
	return nil
}

// parseSize reads "WxH" or "N" and returns height, width.
func parseSize(s string) (h, w int, err error) {
	parts := strings.Split(strings.ToLower(s), "x")
	nums := make([]int, len(parts))
	for i, p := range parts {
		if nums[i], err = strconv.Atoi(strings.TrimSpace(p)); err != nil || nums[i] <= 0 {
			return 0, 0, fmt.Errorf("-size %q: expected WxH or N with positive integers", s)
		}
	}
	switch len(nums) {
	case 1:
		return nums[0], nums[0], nil
	case 2:
		return nums[1], nums[0], nil
	}
	return 0, 0, fmt.Errorf("-size %q: expected WxH or N", s)
}

func newBackend(name string) (compute.Backend, error) {
	if name == "" {
		return backend.New()
	}
	return backend.NewNamed(name)
}
