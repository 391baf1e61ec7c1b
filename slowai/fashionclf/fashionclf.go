// Package fashionclf is a small CNN that classifies Fashion-MNIST at about 91 % test accuracy.
// Lesson 13 uses it as a judge of generated images: a sampler that makes recognisable clothes in
// every class gets confident predictions spread over all ten classes.
//
// Recipe (TrainRecipe): conv3x3(1→32) ReLU maxpool2, conv3x3(32→64) ReLU maxpool2,
// linear(3136→128) ReLU, linear(128→10); inputs normalised with the training set's mean and std;
// Adam with cosine decay to 5 %, batch 128: 3 epochs at lr 1e-3 with random horizontal flips, then
// 1 epoch at lr 3e-4 without flips, which fits the unflipped images the test set has.
package fashionclf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/progress"
	"github.com/slowai-go/course/slowai/safetensors"
)

// Image size and class count the classifier is built for.
const (
	H, W       = 28, 28
	NumClasses = 10
	// Fashion-MNIST's training-set pixel mean and standard deviation.
	mean, std = 0.2860, 0.3530
)

// Classes are Fashion-MNIST's class names, by label.
var Classes = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

type spec struct {
	name  string
	shape []int
}

var specs = []spec{
	{"conv1.weight", []int{32, 1, 3, 3}}, {"conv1.bias", []int{32}},
	{"conv2.weight", []int{64, 32, 3, 3}}, {"conv2.bias", []int{64}},
	{"fc1.weight", []int{128, 64 * 7 * 7}}, {"fc1.bias", []int{128}},
	{"fc2.weight", []int{NumClasses, 128}}, {"fc2.bias", []int{NumClasses}},
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// maxPool2 halves H and W by taking the max of each 2x2 block (reshape + reduce: its gradient
// needs nothing beyond broadcasting, so it runs on every backend).
func maxPool2(x *Node) *Node {
	d := x.Shape().Dimensions
	return ReduceMax(Reshape(x, d[0], d[1], d[2]/2, 2, d[3]/2, 2), 3, 5)
}

// logits maps images x [B, 1, 28, 28] in [0,1] to class scores [B, 10].
func logits(p []*Node, x *Node) *Node {
	pad := nn.ConvOpts{Padding: nn.Pair(1)}
	h := DivScalar(AddScalar(x, -mean), std)
	h = maxPool2(nn.ReLU(nn.Conv2D(h, p[0], p[1], pad)))
	h = maxPool2(nn.ReLU(nn.Conv2D(h, p[2], p[3], pad)))
	h = Reshape(h, h.Shape().Dimensions[0], -1)
	h = nn.ReLU(nn.Linear(h, p[4], p[5]))
	return nn.Linear(h, p[6], p[7])
}

// Classifier holds the weights on a backend.
type Classifier struct {
	be     compute.Backend
	params []*tensors.Tensor
	probs  *Exec
}

// New makes a classifier from weights in the order conv1.weight, conv1.bias, conv2.*, fc1.*, fc2.*
// (PyTorch layouts), or PyTorch-style random weights from seed when weights is nil.
func New(be compute.Backend, weights [][]float32, seed uint64) (*Classifier, error) {
	if be == nil {
		return nil, fmt.Errorf("fashionclf: backend is nil")
	}
	if weights == nil {
		rng := rand.New(rand.NewPCG(seed, 0xc1f))
		for i, s := range specs {
			v := make([]float32, size(s.shape))
			fan := size(specs[i&^1].shape) / specs[i&^1].shape[0]
			b := 1 / math.Sqrt(float64(fan))
			for j := range v {
				v[j] = float32((2*rng.Float64() - 1) * b)
			}
			weights = append(weights, v)
		}
	}
	if len(weights) != len(specs) {
		return nil, fmt.Errorf("fashionclf: %d weight arrays, expected %d", len(weights), len(specs))
	}
	c := &Classifier{be: be}
	for i, s := range specs {
		if len(weights[i]) != size(s.shape) {
			return nil, fmt.Errorf("fashionclf: %s has %d values, shape %v needs %d", s.name, len(weights[i]), s.shape, size(s.shape))
		}
		c.params = append(c.params, tensors.FromFlatDataAndDimensions(append([]float32(nil), weights[i]...), s.shape...))
	}
	return c, nil
}

// TrainConfig says how to train; zero fields take the recipe's values.
type TrainConfig struct {
	Epochs    float64 // passes over the data (3)
	BatchSize int     // (128)
	LR        float64 // peak Adam learning rate (1e-3)
	Seed      uint64
	Flip      bool        // mirror each training image left-right with probability 1/2
	From      [][]float32 // start from these weights instead of random ones
	Progress  bool
}

// TrainRecipe is the recipe the committed classifier was trained with (see the package comment);
// stage1, if not nil, replaces the first stage's result (to finish a run that was interrupted).
func TrainRecipe(be compute.Backend, ds *data.Dataset, seed uint64, stage1 *Classifier, progress bool) (*Classifier, []float64, error) {
	var losses []float64
	if stage1 == nil {
		c, l, err := Train(be, ds, TrainConfig{Epochs: 3, LR: 1e-3, Seed: seed, Flip: true, Progress: progress})
		if err != nil {
			return nil, nil, err
		}
		stage1, losses = c, l
	}
	w, err := stage1.Weights()
	if err != nil {
		return nil, nil, err
	}
	c, l, err := Train(be, ds, TrainConfig{Epochs: 1, LR: 3e-4, Seed: seed + 1, From: w, Progress: progress})
	return c, append(losses, l...), err
}

// Train fits a classifier to ds (28x28 images) and returns it with the per-step losses.
func Train(be compute.Backend, ds *data.Dataset, cfg TrainConfig) (*Classifier, []float64, error) {
	if cfg.Epochs <= 0 {
		cfg.Epochs = 3
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 128
	}
	if cfg.LR <= 0 {
		cfg.LR = 1e-3
	}
	if ds.C != 1 || ds.H != H || ds.W != W {
		return nil, nil, fmt.Errorf("fashionclf: %s images are %dx%d with %d channel(s), expected %dx%d grey", ds.Name, ds.H, ds.W, ds.C, H, W)
	}
	c, err := New(be, cfg.From, cfg.Seed)
	if err != nil {
		return nil, nil, err
	}
	n := len(specs)
	const b1, b2, eps = 0.9, 0.999, 1e-8
	step, err := NewExec(be, func(g *Graph, in []*Node) []*Node {
		p, m, v := in[:n], in[n:2*n], in[2*n:3*n]
		lr, x, y := in[3*n], in[3*n+1], in[3*n+2]
		lp := LogSoftmax(logits(p, x), -1)
		loss := Neg(ReduceAllMean(ReduceSum(Mul(lp, OneHot(y, NumClasses, lp.DType())), -1)))
		grads := Gradient(loss, p...)
		out := make([]*Node, 0, 3*n+1)
		nm, nv := make([]*Node, n), make([]*Node, n)
		for i := range p {
			nm[i], nv[i] = nn.AdamMoments(m[i], v[i], grads[i], b1, b2)
			out = append(out, nn.AdamUpdate(p[i], nm[i], nv[i], lr, eps))
		}
		out = append(out, nm...)
		out = append(out, nv...)
		return append(out, loss)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("fashionclf: building the training step: %w", err)
	}
	defer step.Finalize()
	state := make([]*tensors.Tensor, 2*n)
	for i := range state {
		state[i] = tensors.FromFlatDataAndDimensions(make([]float32, size(specs[i%n].shape)), specs[i%n].shape...)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7c1))
	bs := cfg.BatchSize
	steps := int(cfg.Epochs * float64(ds.N) / float64(bs))
	var bar *progress.Bar
	if cfg.Progress {
		bar = progress.New("classifier", int64(steps))
		defer bar.Done()
	}
	var perm []int
	pos := 0
	x := make([]float32, bs*H*W)
	y := make([]int32, bs)
	losses := make([]float64, 0, steps)
	for s := 1; s <= steps; s++ {
		for i := range bs {
			if pos >= len(perm) {
				perm, pos = rng.Perm(ds.N), 0
			}
			k := perm[pos]
			pos++
			img := ds.Image(k)
			dst := x[i*H*W : (i+1)*H*W]
			if !cfg.Flip || rng.IntN(2) == 0 {
				copy(dst, img)
			} else { // horizontal flip: clothes look the same mirrored
				for r := range H {
					for col := range W {
						dst[r*W+col] = img[r*W+W-1-col]
					}
				}
			}
			y[i] = int32(ds.Labels[k])
		}
		frac := float64(s) / float64(steps)
		lr := cfg.LR * (0.05 + 0.95*0.5*(1+math.Cos(math.Pi*frac)))
		lr = nn.AdamLR(lr, b1, b2, s)
		args := make([]any, 0, 3*n+3)
		for _, t := range c.params {
			args = append(args, t)
		}
		for _, t := range state {
			args = append(args, t)
		}
		args = append(args, float32(lr), tensors.FromFlatDataAndDimensions(x, bs, 1, H, W), tensors.FromFlatDataAndDimensions(y, bs))
		out, err := step.Call(args...)
		if err != nil {
			return nil, nil, fmt.Errorf("fashionclf: step %d: %w", s, err)
		}
		for _, t := range c.params {
			t.FinalizeAll()
		}
		for _, t := range state {
			t.FinalizeAll()
		}
		c.params, state = out[:n], out[n:3*n]
		l, err := tensors.CopyFlatData[float32](out[3*n])
		if err != nil {
			return nil, nil, err
		}
		losses = append(losses, float64(l[0]))
		if bar != nil {
			bar.Add(1)
			bar.SetSuffix("loss %.3f", l[0])
		}
	}
	return c, losses, nil
}

// Probs returns the class probabilities of images (each 28*28 values in [0,1]).
func (c *Classifier) Probs(images [][]float32) ([][]float32, error) {
	if c.probs == nil {
		e, err := NewExec(c.be, func(g *Graph, in []*Node) *Node {
			return Softmax(logits(in[:len(specs)], in[len(specs)]), -1)
		})
		if err != nil {
			return nil, err
		}
		c.probs = e
	}
	const chunk = 500
	var out [][]float32
	for start := 0; start < len(images); start += chunk {
		part := images[start:min(start+chunk, len(images))]
		flat := make([]float32, 0, len(part)*H*W)
		for i, img := range part {
			if len(img) != H*W {
				return nil, fmt.Errorf("fashionclf: image %d has %d values, expected %d", start+i, len(img), H*W)
			}
			flat = append(flat, img...)
		}
		args := make([]any, 0, len(specs)+1)
		for _, t := range c.params {
			args = append(args, t)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(flat, len(part), 1, H, W))
		res, err := c.probs.Call(args...)
		if err != nil {
			return nil, fmt.Errorf("fashionclf: %w", err)
		}
		p, err := tensors.CopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		for i := range part {
			out = append(out, p[i*NumClasses:(i+1)*NumClasses])
		}
	}
	return out, nil
}

// Accuracy is the fraction of ds the classifier labels correctly.
func (c *Classifier) Accuracy(ds *data.Dataset) (float64, error) {
	imgs := make([][]float32, ds.N)
	for i := range imgs {
		imgs[i] = ds.Image(i)
	}
	probs, err := c.Probs(imgs)
	if err != nil {
		return 0, err
	}
	right := 0
	for i, p := range probs {
		if argmax(p) == ds.Labels[i] {
			right++
		}
	}
	return float64(right) / float64(ds.N), nil
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// Verdict summarises what the classifier thinks of a set of images.
type Verdict struct {
	N           int
	Counts      []int     // images per predicted class
	Fractions   []float64 // Counts / N
	MeanTopProb float64   // mean over images of the highest class probability
	TopProbs    []float64 // each image's highest class probability
}

// Judge counts the predicted classes of probs and averages the top probabilities.
func Judge(probs [][]float32) Verdict {
	v := Verdict{N: len(probs), Counts: make([]int, NumClasses), Fractions: make([]float64, NumClasses)}
	for _, p := range probs {
		k := argmax(p)
		v.Counts[k]++
		v.TopProbs = append(v.TopProbs, float64(p[k]))
		v.MeanTopProb += float64(p[k])
	}
	if v.N > 0 {
		v.MeanTopProb /= float64(v.N)
		for i, c := range v.Counts {
			v.Fractions[i] = float64(c) / float64(v.N)
		}
	}
	return v
}

// MinFraction is the share of the rarest class.
func (v Verdict) MinFraction() float64 {
	m := 1.0
	for _, f := range v.Fractions {
		m = math.Min(m, f)
	}
	return m
}

// Weights copies the weights to the host in the order New takes them.
func (c *Classifier) Weights() ([][]float32, error) {
	var out [][]float32
	for _, t := range c.params {
		v, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Save writes the weights as safetensors (atomically) with the test accuracy in the metadata.
func (c *Classifier) Save(path string, testAccuracy float64) error {
	w, err := c.Weights()
	if err != nil {
		return err
	}
	arrays := make([]safetensors.Array, len(specs))
	for i, s := range specs {
		arrays[i] = safetensors.F32(s.name, s.shape, w[i])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("fashionclf: %w", err)
	}
	return safetensors.Save(path, arrays, map[string]string{
		"format": "slowai-fashionclf/1", "test_accuracy": strconv.FormatFloat(testAccuracy, 'f', 4, 64),
	})
}

// Load reads weights written by Save.
func Load(be compute.Backend, path string) (*Classifier, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fashionclf: %w", err)
	}
	defer f.Close()
	var w [][]float32
	for _, s := range specs {
		v, shape, err := f.FiniteFloat32(s.name)
		if err != nil {
			return nil, fmt.Errorf("fashionclf: %s: %w", path, err)
		}
		if size(shape) != size(s.shape) || len(shape) != len(s.shape) {
			return nil, fmt.Errorf("fashionclf: %s: %s has shape %v, expected %v", path, s.name, shape, s.shape)
		}
		w = append(w, v)
	}
	return New(be, w, 0)
}
