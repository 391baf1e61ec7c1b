package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/progress"
	"github.com/slowai-go/course/slowai/safefile"
	"github.com/slowai-go/course/slowai/sd/hub"
	"github.com/slowai-go/course/slowai/sd/pipeline"
	"github.com/slowai-go/course/slowai/sd/schedulers"
	"github.com/slowai-go/course/slowai/sd/tokenizer"
)

// stderr receives generate's notes and warnings (tests capture it).
var stderr io.Writer = os.Stderr

// generateArgs are generate's options, checked.
type generateArgs struct {
	opts      pipeline.Options
	paths     pipeline.Paths // where the model's components are (not with -random)
	random    bool
	tokDir    string
	out       string
	backend   string
	mem       bool
	modelName string
}

// generate checks every option, the output path and the memory the size needs before
// anything is loaded, then loads the model and writes the picture.
func generate(ctx context.Context, args []string) error {
	g, err := parseGenerate(args)
	if err != nil {
		return err
	}
	be, err := newBackend(g.backend)
	if err != nil {
		return err
	}
	start := time.Now()
	var sd *pipeline.StableDiffusion
	if g.random {
		sd, err = pipeline.NewRandomSD1(g.tokDir, be, g.opts.Seed)
	} else {
		sd, err = pipeline.LoadPaths(g.paths, be)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "loaded %s in %.1fs\n", g.modelName, time.Since(start).Seconds())
	if g.mem {
		printMemory("after loading")
	}
	opts := g.opts
	var bar *progress.Bar
	opts.Callback = func(s pipeline.Step) {
		if bar == nil {
			bar = progress.NewTo(stderr, "denoising", int64(s.Total))
		}
		bar.SetSuffix("t=%.0f", s.Timestep)
		bar.Add(1)
		if g.mem {
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
	if err := res.Image.WritePNG(g.out); err != nil {
		return fmt.Errorf("generate: -out %s: %w", g.out, err)
	}
	fmt.Printf("wrote %s (%d×%d, %d steps in %.1fs)\n", g.out, res.Image.W, res.Image.H, len(res.Timesteps), time.Since(start).Seconds())
	if g.mem {
		printMemory("at the end")
	}
	return nil
}

// maxSteps bounds -steps: SD v1's schedulers pick steps among 1000 training timesteps.
const maxSteps = 1000

// parseGenerate reads and checks generate's flags, the output path, the memory the size needs
// and the prompt's length: everything that can be wrong is reported before a model loads.
func parseGenerate(args []string) (*generateArgs, error) {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prompt := fs.String("prompt", "", "what to draw (required)")
	negative := fs.String("negative", "", "negative prompt: what to steer away from")
	steps := fs.Int("steps", pipeline.DefaultSteps, fmt.Sprintf("number of denoising steps, 1 to %d", maxSteps))
	guidance := fs.Float64("guidance", pipeline.DefaultGuidance, "classifier-free guidance scale (≤ 1 turns it off)")
	seed := fs.Uint64("seed", 0, "seed of the starting noise (Go's PCG generator; it does not reproduce PyTorch's)")
	sched := fs.String("scheduler", "", strings.Join(schedulers.Names(), ", ")+" (default: the model's own)")
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
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("generate: unexpected arguments %q", fs.Args())
	}
	if strings.TrimSpace(*prompt) == "" {
		return nil, fmt.Errorf("generate: -prompt is required")
	}
	if *steps < 1 || *steps > maxSteps {
		return nil, fmt.Errorf("generate: -steps %d, expected 1 to %d", *steps, maxSteps)
	}
	if math.IsNaN(*guidance) || math.IsInf(*guidance, 0) || *guidance < 0 {
		return nil, fmt.Errorf("generate: -guidance %v, expected a finite number ≥ 0", *guidance)
	}
	if *sched != "" && !slices.Contains(schedulers.Names(), *sched) {
		return nil, fmt.Errorf("generate: -scheduler %q, expected one of %s", *sched, strings.Join(schedulers.Names(), ", "))
	}
	g := &generateArgs{random: *random, tokDir: *tokDir, out: *out, backend: *beName, mem: *mem}
	g.opts = pipeline.Options{Prompt: *prompt, NegativePrompt: *negative, Steps: *steps, Guidance: *guidance,
		Seed: *seed, Scheduler: *sched}
	if *guidance == 0 {
		g.opts.Guidance = 1 // 0 means "default" in Options; on the command line it means no guidance
	}
	h, w := 512, 512 // SD v1's default, for the memory estimate
	if *size != "" {
		var err error
		if h, w, err = parseSize(*size); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		if h%8 != 0 || w%8 != 0 {
			return nil, fmt.Errorf("generate: -size %q: width and height must be multiples of 8", *size)
		}
		g.opts.Height, g.opts.Width = h, w
	}
	if err := checkMemory(*size, h, w); err != nil {
		return nil, err
	}
	if *initImage != "" {
		if math.IsNaN(*strength) || *strength < 0 || *strength > 1 {
			return nil, fmt.Errorf("generate: -strength %v, expected a value in [0, 1]", *strength)
		}
		img, err := pipeline.ReadImage(*initImage)
		if err != nil {
			return nil, fmt.Errorf("generate: -init-image: %w", err)
		}
		g.opts.InitImage, g.opts.Strength = &img, *strength
	}
	if err := checkOutput(*out); err != nil {
		return nil, err
	}
	var tok *tokenizer.Tokenizer
	var err error
	switch {
	case *random:
		g.modelName = "random SD v1 weights"
		if tok, err = tokenizer.Load(*tokDir); err != nil {
			return nil, fmt.Errorf("generate: -tokenizer: %w", err)
		}
	default:
		dir := *weightsDir
		if dir == "" {
			if dir, err = hub.CachedDir(*repo, *revision); err != nil {
				return nil, fmt.Errorf("generate: no complete copy of %s in the Hugging Face cache (%v); %s, or pass -weights DIR",
					*repo, err, pipeline.HowToGetWeights)
			}
		}
		if g.paths, err = pipeline.Locate(dir); err != nil {
			return nil, fmt.Errorf("generate: -weights: %w", err)
		}
		g.modelName = dir
		if tok, err = tokenizer.Load(g.paths.Tokenizer); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	}
	warnTruncated(tok, "-prompt", *prompt)
	warnTruncated(tok, "-negative", *negative)
	return g, nil
}

// checkOutput makes sure the picture can be written where -out says, by creating (and
// removing) a temporary file beside it, so a bad path fails now and not after the generation.
func checkOutput(out string) error {
	if out == "" {
		return fmt.Errorf("generate: -out is empty, expected a .png file name")
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("generate: -out %s is a directory, expected a file name such as %s", out, filepath.Join(out, "out.png"))
	}
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("generate: -out %s: the directory %s does not exist (create it first)", out, dir)
	} else if !st.IsDir() {
		return fmt.Errorf("generate: -out %s: %s is not a directory", out, dir)
	}
	f, err := safefile.Create(out)
	if err != nil {
		return fmt.Errorf("generate: -out %s: cannot write in %s: %w", out, dir, errors.Unwrap(err))
	}
	f.Abort()
	return nil
}

// warnTruncated says, as diffusers does, which part of a prompt the text encoder will not see:
// CLIP reads 77 tokens, the start and end markers included.
func warnTruncated(tok *tokenizer.Tokenizer, flagName, text string) {
	ids, err := tok.Encode(text)
	if err != nil || len(ids) <= tok.MaxLen() {
		return
	}
	dropped := ids[tok.MaxLen()-1 : len(ids)-1] // what comes after the first MaxLen-2 tokens, before the end marker
	fmt.Fprintf(stderr, "sd: warning: %s has %d tokens but CLIP reads only %d; this part is ignored: %q\n",
		flagName, len(ids)-2, tok.MaxLen()-2, tok.Decode(dropped))
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
