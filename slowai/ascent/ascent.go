package ascent

import (
	"fmt"
	"math"
	"math/rand"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// AscentConfig says how to climb log p(class | x). Zero fields take the defaults noted.
type AscentConfig struct {
	Steps    int     // gradient steps (100)
	StepSize float64 // C in x ← x + C·∇ₓ log p (0.1)
	Seed     int64   // picks the starting noise (0 is a valid seed)
	// InitMean and InitStd set the starting noise x₀ ~ N(InitMean, InitStd²) per pixel
	// (0.5 and 0.3 when both are zero; clamped to [0, 1] unless Unclamped).
	InitMean, InitStd float64
	// Every keeps a frame every Every steps, plus the first and the last (Steps/8 when 0).
	Every int
	// FrameSteps, when set, lists the exact steps to keep instead of Every.
	FrameSteps []int
	// Prior, when > 0, adds the gradient of a simple image prior log N(x; 0, 1/Prior) to each
	// step: x ← x + C·(∇ₓ log p(class | x) − Prior·x). By Bayes, log p(x | class) is
	// log p(class | x) + log p(x) + const, so this climbs a (crude) p(x | class) instead of
	// p(class | x) alone, and the pull toward black removes noise the classifier ignores.
	Prior float64
	// Unclamped lets pixels leave [0, 1]; by default every step is clamped back, which keeps
	// the frames looking like images.
	Unclamped bool
}

func (c AscentConfig) withDefaults() AscentConfig {
	if c.Steps <= 0 {
		c.Steps = 100
	}
	if c.StepSize == 0 {
		c.StepSize = 0.1
	}
	if c.InitMean == 0 && c.InitStd == 0 {
		c.InitMean, c.InitStd = 0.5, 0.3
	}
	if c.Every <= 0 {
		c.Every = max(1, c.Steps/8)
	}
	return c
}

// AscentResult is one climb: frames at FrameSteps and p(class) after every step.
type AscentResult struct {
	Class      int
	FrameSteps []int       // step number of each frame (0 is the starting noise)
	Frames     [][]float32 // H*W pixels per frame
	Probs      []float64   // Probs[s] is p(class | x after s steps), s = 0..Steps
}

// Ascend starts from noise and climbs log p(class | x) with plain gradient steps.
func Ascend(c *Classifier, class int, cfg AscentConfig) (*AscentResult, error) {
	res, err := AscendClasses(c, []int{class}, cfg)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// AscendClasses climbs one image per entry of classes at once, all from the same starting
// noise, so one can watch the same noise turn into each class. The climbs do not interact:
// the gradient of a sum of per-image log-probabilities is each image's own gradient, so
// row i equals Ascend(c, classes[i], cfg).
func AscendClasses(c *Classifier, classes []int, cfg AscentConfig) ([]*AscentResult, error) {
	cfg = cfg.withDefaults()
	if len(classes) == 0 {
		return nil, fmt.Errorf("ascent.Ascend: no classes given")
	}
	for _, k := range classes {
		if k < 0 || k >= c.NumClasses {
			return nil, fmt.Errorf("ascent.Ascend: class %d is outside [0, %d)", k, c.NumClasses)
		}
	}
	keep := map[int]bool{0: true, cfg.Steps: true}
	if len(cfg.FrameSteps) > 0 {
		keep = map[int]bool{}
		for _, s := range cfg.FrameSteps {
			if s < 0 || s > cfg.Steps {
				return nil, fmt.Errorf("ascent.Ascend: frame step %d is outside [0, Steps=%d]", s, cfg.Steps)
			}
			keep[s] = true
		}
	} else {
		for s := 0; s <= cfg.Steps; s += cfg.Every {
			keep[s] = true
		}
	}

	b, d := len(classes), c.H*c.W
	x := make([]float32, b*d)
	rng := rand.New(rand.NewSource(cfg.Seed))
	for j := range d {
		v := cfg.InitMean + cfg.InitStd*rng.NormFloat64()
		if !cfg.Unclamped {
			v = math.Min(1, math.Max(0, v))
		}
		x[j] = float32(v)
	}
	for i := 1; i < b; i++ {
		copy(x[i*d:(i+1)*d], x[:d])
	}
	cls := make([]int32, b)
	results := make([]*AscentResult, b)
	for i, k := range classes {
		cls[i] = int32(k)
		results[i] = &AscentResult{Class: k, Probs: make([]float64, 0, cfg.Steps+1)}
	}

	if c.ascentExec == nil {
		e, err := NewExec(c.be, func(g *Graph, in []*Node) []*Node {
			p, x, cls, step, lo, hi, prior := in[:4], in[4], in[5], in[6], in[7], in[8], in[9]
			lp := logProbOf(p, x, cls, c.NumClasses)
			grad := Sub(Gradient(ReduceAllSum(lp), x)[0], Mul(prior, x))
			return []*Node{Clip(Add(x, Mul(step, grad)), lo, hi), Exp(lp)}
		})
		if err != nil {
			return nil, fmt.Errorf("ascent.Ascend: %w", err)
		}
		c.ascentExec = e
	}
	lo, hi := float32(0), float32(1)
	if cfg.Unclamped {
		lo, hi = -math.MaxFloat32, math.MaxFloat32
	}
	xt := tensors.FromFlatDataAndDimensions(x, b, d)
	clsT := tensors.FromFlatDataAndDimensions(cls, b)
	record := func(s int, xs []float32, probs []float32) {
		for i, r := range results {
			if probs != nil {
				r.Probs = append(r.Probs, float64(probs[i]))
			}
			if xs != nil && keep[s] {
				r.FrameSteps = append(r.FrameSteps, s)
				r.Frames = append(r.Frames, append([]float32(nil), xs[i*d:(i+1)*d]...))
			}
		}
	}
	record(0, x, nil)
	// Each call returns the moved image and p at the image it was given, so the probability
	// after the last step needs one more call (with step size 0).
	for s := 1; s <= cfg.Steps+1; s++ {
		step := float32(cfg.StepSize)
		if s > cfg.Steps {
			step = 0
		}
		out, err := c.ascentExec.Exec(c.params[0], c.params[1], c.params[2], c.params[3], xt, clsT, step, lo, hi, float32(cfg.Prior))
		if err != nil {
			return nil, fmt.Errorf("ascent.Ascend: step %d: %w", s, err)
		}
		probs, err := tensors.CopyFlatData[float32](out[1])
		out[1].FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("ascent.Ascend: step %d: %w", s, err)
		}
		xt.FinalizeAll()
		xt = out[0]
		if s > cfg.Steps {
			record(s, nil, probs)
			break
		}
		var xs []float32
		if keep[s] {
			if xs, err = tensors.CopyFlatData[float32](xt); err != nil {
				return nil, fmt.Errorf("ascent.Ascend: step %d: %w", s, err)
			}
		}
		record(s, xs, probs)
	}
	xt.FinalizeAll()
	return results, nil
}

// GradLogProb returns ∇ₓ log p(classes[i] | xᵢ) for n = len(classes) images packed in images,
// and the log-probabilities themselves. It is the quantity Ascend follows, exposed so that it
// can be checked against finite differences.
func (c *Classifier) GradLogProb(images []float32, classes []int) (grad []float32, logp []float64, err error) {
	d, n := c.H*c.W, len(classes)
	if n == 0 || len(images) != n*d {
		return nil, nil, fmt.Errorf("ascent.GradLogProb: want %d images of %d pixels (%d floats) for %d classes, got %d floats",
			n, d, n*d, n, len(images))
	}
	cls := make([]int32, n)
	for i, k := range classes {
		if k < 0 || k >= c.NumClasses {
			return nil, nil, fmt.Errorf("ascent.GradLogProb: class %d is outside [0, %d)", k, c.NumClasses)
		}
		cls[i] = int32(k)
	}
	out, err := ExecOnceN(c.be, func(g *Graph, in []*Node) []*Node {
		lp := logProbOf(in[:4], in[4], in[5], c.NumClasses)
		return []*Node{Gradient(ReduceAllSum(lp), in[4])[0], lp}
	}, c.params[0], c.params[1], c.params[2], c.params[3],
		tensors.FromFlatDataAndDimensions(images, n, d), tensors.FromFlatDataAndDimensions(cls, n))
	if err != nil {
		return nil, nil, fmt.Errorf("ascent.GradLogProb: %w", err)
	}
	if grad, err = tensors.CopyFlatData[float32](out[0]); err != nil {
		return nil, nil, err
	}
	lp, err := tensors.CopyFlatData[float32](out[1])
	if err != nil {
		return nil, nil, err
	}
	logp = make([]float64, n)
	for i, v := range lp {
		logp[i] = float64(v)
	}
	return grad, logp, nil
}
