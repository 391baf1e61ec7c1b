// Package ascent shows the idea that diffusion models start from: a classifier's gradient with
// respect to the pixels says how to change an image to make it look more like a class.
//
// It trains a small MNIST classifier (an MLP written as plain graph functions, trained by a
// hand-written loop around slowai/optim's Adam, so every moving part is visible) and then climbs
// log p(class | x) from noise: x ← x + C·∇ₓ log p(class | x).
package ascent

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/optim"
	"github.com/slowai-go/course/slowai/progress"
)

// TrainConfig says how to train the classifier. Zero fields take the defaults noted.
type TrainConfig struct {
	Hidden    int     // hidden units (100)
	Steps     int     // Adam steps (600)
	BatchSize int     // images per step (128)
	LR        float64 // Adam learning rate (2e-3)
	Seed      int64   // initialisation, batch order and noise (0 is a valid seed)
	// NoiseMax, when > 0, adds Gaussian noise with a standard deviation drawn uniformly from
	// [0, NoiseMax] to each training image. A classifier that has seen noisy digits gives a
	// gradient that points toward digits from noisy starting points too, which is what the
	// ascent needs; one trained only on clean digits is easy to fool with speckle.
	NoiseMax float64
	Progress bool // draw a progress bar with the running loss
}

func (c TrainConfig) withDefaults() TrainConfig {
	if c.Hidden <= 0 {
		c.Hidden = 100
	}
	if c.Steps <= 0 {
		c.Steps = 600
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 128
	}
	if c.LR <= 0 {
		c.LR = 2e-3
	}
	return c
}

// Classifier is an MLP pixels → hidden (SiLU) → class logits. SiLU rather than ReLU keeps
// log p smooth in the pixels, so the gradient the ascent follows has no kinks and a finite
// difference can check it.
type Classifier struct {
	be         compute.Backend
	H, W       int
	NumClasses int
	Hidden     int
	// params holds W1 [H*W, Hidden], b1 [Hidden], W2 [Hidden, NumClasses], b2 [NumClasses].
	params []*tensors.Tensor

	probsExec, ascentExec *Exec
}

// NewClassifier returns an untrained classifier with He-initialised weights drawn from seed.
func NewClassifier(be compute.Backend, h, w, numClasses, hidden int, seed int64) (*Classifier, error) {
	if be == nil {
		return nil, fmt.Errorf("ascent.NewClassifier: backend is nil")
	}
	if h <= 0 || w <= 0 || numClasses < 2 || hidden <= 0 {
		return nil, fmt.Errorf("ascent.NewClassifier: want h, w, hidden > 0 and numClasses >= 2, got h=%d w=%d numClasses=%d hidden=%d",
			h, w, numClasses, hidden)
	}
	rng := rand.New(rand.NewSource(seed))
	d := h * w
	normal := func(n int, std float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * std)
		}
		return out
	}
	c := &Classifier{be: be, H: h, W: w, NumClasses: numClasses, Hidden: hidden}
	c.params = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(normal(d*hidden, math.Sqrt(2/float64(d))), d, hidden),
		tensors.FromFlatDataAndDimensions(make([]float32, hidden), hidden),
		tensors.FromFlatDataAndDimensions(normal(hidden*numClasses, math.Sqrt(1/float64(hidden))), hidden, numClasses),
		tensors.FromFlatDataAndDimensions(make([]float32, numClasses), numClasses),
	}
	return c, nil
}

// logits is the model: x [B, H*W] → [B, NumClasses].
func logits(p []*Node, x *Node) *Node {
	h := MatMul(x, p[0])
	h = Add(h, ExpandAxes(p[1], 0))
	h = Mul(h, Logistic(h)) // SiLU
	out := MatMul(h, p[2])
	return Add(out, ExpandAxes(p[3], 0))
}

// logProbOf picks log p(class_i | x_i) for each row: x [B, D], classes int32 [B] → [B].
func logProbOf(p []*Node, x, classes *Node, numClasses int) *Node {
	lp := LogSoftmax(logits(p, x), -1)
	return ReduceSum(Mul(lp, OneHot(classes, numClasses, lp.DType())), -1)
}

// trainOn is TrainClassifier on raw slices: images is N*h*w floats in [0, 1].
func trainOn(be compute.Backend, images []float32, labels []int, h, w, numClasses int, cfg TrainConfig) (*Classifier, []float64, error) {
	cfg = cfg.withDefaults()
	d := h * w
	n := len(labels)
	if n == 0 || len(images) != n*d {
		return nil, nil, fmt.Errorf("ascent.TrainClassifier: want %d labels and %d×%d×%d = %d pixels, got %d pixels",
			n, n, h, w, n*d, len(images))
	}
	for i, l := range labels {
		if l < 0 || l >= numClasses {
			return nil, nil, fmt.Errorf("ascent.TrainClassifier: label %d of image %d is outside [0, %d)", l, i, numClasses)
		}
	}
	c, err := NewClassifier(be, h, w, numClasses, cfg.Hidden, cfg.Seed)
	if err != nil {
		return nil, nil, err
	}
	opt := optim.Adam{LR: cfg.LR}
	lr, mom := opt.Defaults()
	np, ns := len(c.params), len(opt.Slots())
	// step maps (params, Adam's slots m and v of each parameter, learning rate, β1, step number, x, y)
	// to the new params, slots and the batch loss.
	step, err := NewExec(be, func(g *Graph, in []*Node) []*Node {
		p, flatSlots := in[:np], in[np:np+np*ns]
		h := optim.Hyper{LR: in[np+np*ns], Mom: in[np+np*ns+1], Step: in[np+np*ns+2]}
		x, y := in[np+np*ns+3], in[np+np*ns+4]
		loss := Neg(ReduceAllMean(logProbOf(p, x, y, numClasses)))
		grads := Gradient(loss, p...)
		slots := make([][]*Node, np)
		for i := range slots {
			slots[i] = flatSlots[i*ns : (i+1)*ns]
		}
		newP, newSlots := optim.UpdateAll(opt, p, grads, slots, h)
		out := newP
		for _, s := range newSlots {
			out = append(out, s...)
		}
		return append(out, loss)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ascent.TrainClassifier: building the training step: %w", err)
	}
	defer step.Finalize()

	// slots holds each parameter's Adam state, parameter by parameter, starting at zero.
	slots := make([]*tensors.Tensor, np*ns)
	for i := range slots {
		slots[i] = tensors.FromShape(c.params[i/ns].Shape())
	}
	rng := rand.New(rand.NewSource(cfg.Seed + 1))
	perm := rng.Perm(n)
	pos := 0
	bs := min(cfg.BatchSize, n)
	xb := make([]float32, bs*d)
	yb := make([]int32, bs)
	losses := make([]float64, 0, cfg.Steps)
	var bar *progress.Bar
	if cfg.Progress {
		bar = progress.New("train", int64(cfg.Steps))
	}
	for t := 1; t <= cfg.Steps; t++ {
		for b := range bs {
			if pos == n {
				perm, pos = rng.Perm(n), 0
			}
			i := perm[pos]
			pos++
			yb[b] = int32(labels[i])
			src := images[i*d : (i+1)*d]
			dst := xb[b*d : (b+1)*d]
			sigma := 0.0
			if cfg.NoiseMax > 0 {
				sigma = rng.Float64() * cfg.NoiseMax
			}
			for j, v := range src {
				if sigma > 0 {
					v += float32(sigma * rng.NormFloat64())
				}
				dst[j] = v
			}
		}
		args := make([]any, 0, np+len(slots)+5)
		for _, p := range c.params {
			args = append(args, p)
		}
		for _, s := range slots {
			args = append(args, s)
		}
		args = append(args, float32(lr), float32(mom), float32(t),
			tensors.FromFlatDataAndDimensions(xb, bs, d),
			tensors.FromFlatDataAndDimensions(yb, bs))
		out, err := step.Exec(args...)
		if err != nil {
			return nil, nil, fmt.Errorf("ascent.TrainClassifier: step %d: %w", t, err)
		}
		for i := range np {
			c.params[i].FinalizeAll()
			c.params[i] = out[i]
		}
		for i := range slots {
			slots[i].FinalizeAll()
			slots[i] = out[np+i]
		}
		loss := float64(tensors.ToScalar[float32](out[np+len(slots)]))
		out[np+len(slots)].FinalizeAll()
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, nil, fmt.Errorf("ascent.TrainClassifier: loss became %v at step %d; lower TrainConfig.LR (%g)", loss, t, cfg.LR)
		}
		losses = append(losses, loss)
		if bar != nil {
			bar.SetSuffix("loss %.3f", loss)
			bar.Add(1)
		}
	}
	if bar != nil {
		bar.Done()
	}
	for _, s := range slots {
		s.FinalizeAll()
	}
	return c, losses, nil
}

// Probs returns p(class | image) for n images packed in images (n*H*W floats).
func (c *Classifier) Probs(images []float32, n int) ([][]float64, error) {
	d := c.H * c.W
	if n <= 0 || len(images) != n*d {
		return nil, fmt.Errorf("ascent.Probs: want n > 0 images of %d×%d = %d pixels each (%d floats), got n=%d and %d floats",
			c.H, c.W, d, n*d, n, len(images))
	}
	if c.probsExec == nil {
		e, err := NewExec(c.be, func(g *Graph, in []*Node) *Node {
			return Softmax(logits(in[:4], in[4]), -1)
		})
		if err != nil {
			return nil, fmt.Errorf("ascent.Probs: %w", err)
		}
		c.probsExec = e
	}
	out := make([][]float64, 0, n)
	const chunk = 1000 // bounds memory and the number of compiled shapes
	for start := 0; start < n; start += chunk {
		m := min(chunk, n-start)
		x := tensors.FromFlatDataAndDimensions(images[start*d:(start+m)*d], m, d)
		res, err := c.probsExec.Exec(c.params[0], c.params[1], c.params[2], c.params[3], x)
		if err != nil {
			return nil, fmt.Errorf("ascent.Probs: %w", err)
		}
		flat, err := tensors.CopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("ascent.Probs: %w", err)
		}
		for i := range m {
			row := make([]float64, c.NumClasses)
			for k := range row {
				row[k] = float64(flat[i*c.NumClasses+k])
			}
			out = append(out, row)
		}
	}
	return out, nil
}

func (c *Classifier) accuracyOn(images []float32, labels []int) (float64, error) {
	probs, err := c.Probs(images, len(labels))
	if err != nil {
		return 0, err
	}
	right := 0
	for i, p := range probs {
		if argmax(p) == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(labels)), nil
}

// Predict returns the most probable class of each of n images.
func (c *Classifier) Predict(images []float32, n int) ([]int, error) {
	probs, err := c.Probs(images, n)
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i, p := range probs {
		out[i] = argmax(p)
	}
	return out, nil
}

func argmax(p []float64) int {
	best := 0
	for k := range p {
		if p[k] > p[best] {
			best = k
		}
	}
	return best
}

// Weights returns copies of W1 [D*Hidden], b1, W2 [Hidden*NumClasses], b2 as flat row-major
// slices, for inspection and for checking the graph against a plain-Go forward pass.
func (c *Classifier) Weights() ([][]float32, error) {
	out := make([][]float32, len(c.params))
	for i, p := range c.params {
		f, err := tensors.CopyFlatData[float32](p)
		if err != nil {
			return nil, fmt.Errorf("ascent.Weights: parameter %d: %w", i, err)
		}
		out[i] = f
	}
	return out, nil
}

// SetWeights replaces the parameters with flat slices shaped as Weights returns them.
func (c *Classifier) SetWeights(w [][]float32) error {
	if len(w) != len(c.params) {
		return fmt.Errorf("ascent.SetWeights: want %d parameter slices (W1, b1, W2, b2), got %d", len(c.params), len(w))
	}
	next := make([]*tensors.Tensor, len(w))
	for i, p := range c.params {
		if len(w[i]) != p.Size() {
			return fmt.Errorf("ascent.SetWeights: parameter %d has %d values, want %d (shape %s)", i, len(w[i]), p.Size(), p.Shape())
		}
		next[i] = tensors.FromFlatDataAndDimensions(append([]float32(nil), w[i]...), p.Shape().Dimensions...)
	}
	c.params = next
	return nil
}
