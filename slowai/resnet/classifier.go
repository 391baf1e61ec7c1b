package resnet

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/augment"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

// Fashion-MNIST's training-set pixel mean and standard deviation: the classifier normalises its
// input itself, so that callers (lesson 17's FID among them) pass plain pixels in [0, 1].
const (
	Mean, Std = 0.2860, 0.3530
	// NumClasses is the classifier's output width, FeatureDim its penultimate features' width.
	NumClasses, FeatureDim = 10, 256
)

// ClassifierNet is the residual New(false) behind a normalisation layer: it maps images
// [B, 1, 28, 28] with pixels in [0, 1] to class scores [B, 10]. Parameter names are New's.
func ClassifierNet() (*module.Specs, *module.Sequential) {
	s, body := New(false)
	seq := &module.Sequential{}
	seq.Add("normalize", module.Fn(func(x *graph.Node) *graph.Node {
		return graph.DivScalar(graph.AddScalar(x, -Mean), Std)
	}))
	for i, name := range body.Names {
		seq.Add(name, body.Layers[i])
	}
	return s, seq
}

// Recipe is how a classifier is trained: AdamW with a one-cycle schedule peaking at LR, batches of
// Batch images, each shifted by up to Crop pixels (data.RandomCrop) and mirrored with probability
// 1/2 when Flip is set.
type Recipe struct {
	Epochs, Batch int
	LR, WD        float64
	Crop          int
	Flip          bool
	Seed          uint64
}

// CommittedRecipe is how data/checkpoints/fashion_resnet.safetensors was trained (its README).
var CommittedRecipe = Recipe{Epochs: 10, Batch: 256, LR: 1e-2, WD: 1e-2, Crop: 1, Flip: true, Seed: 1}

// Validate reports a recipe that cannot train.
func (r Recipe) Validate() error {
	if r.Epochs <= 0 || r.Batch <= 0 || !(r.LR > 0) || r.WD < 0 || r.Crop < 0 {
		return fmt.Errorf("resnet: recipe %+v: want epochs, batch and lr > 0, weight decay and crop >= 0", r)
	}
	return nil
}

// Transforms are the recipe's training augmentations (host side, before the network normalises).
func (r Recipe) Transforms() []data.Transform {
	var t []data.Transform
	if r.Crop > 0 {
		t = append(t, data.RandomCrop(r.Crop))
	}
	if r.Flip {
		t = append(t, data.RandomFlip(0.5))
	}
	return t
}

// NewLearner makes the Learner that trains ClassifierNet by r on train, validating on valid (may be
// nil). Fit it for r.Epochs with the schedule from r.Schedule.
func NewLearner(be compute.Backend, r Recipe, train, valid *data.Dataset, cbs ...learn.Callback) (*learn.Learner, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if train == nil || train.C != 1 || train.H != 28 || train.W != 28 {
		return nil, errors.New("resnet.NewLearner: want a training set of 1x28x28 images")
	}
	o := data.LoaderOptions{Shuffle: true, Seed: r.Seed, Transforms: r.Transforms()}
	var dls data.Loaders
	var err error
	if valid != nil {
		dls, err = data.NewLoaders(train, valid, r.Batch, o)
	} else {
		dls.Train, err = data.NewLoader(train, r.Batch, o)
	}
	if err != nil {
		return nil, fmt.Errorf("resnet.NewLearner: %w", err)
	}
	return learn.New(learn.Net(ClassifierNet()), dls, learn.CrossEntropy, optim.AdamW(r.LR, r.WD),
		learn.Options{Backend: be, Seed: r.Seed}, cbs...)
}

// Schedule is r's one-cycle learning rate and momentum over its epochs of l's training loader.
func (r Recipe) Schedule(l *learn.Learner) learn.Schedule { return learn.OneCycle(l, r.LR, r.Epochs) }

// Classifier is a trained ClassifierNet with its weights in Vars (evaluation mode: BatchNorm uses
// its running statistics).
type Classifier struct {
	Vars      module.Vars
	specs     *module.Specs
	net       *module.Sequential
	execs     map[string]*model.Exec
	BatchSize int // images per compiled call (500 by default)
}

// NewClassifier wraps weights already in v (a Learner's Vars after training, say).
func NewClassifier(v module.Vars) *Classifier {
	v.Train = false
	s, seq := ClassifierNet()
	return &Classifier{Vars: v, specs: s, net: seq, execs: map[string]*model.Exec{}, BatchSize: 500}
}

// features runs the network up to its global average pool: the 256 penultimate features.
func (c *Classifier) features(x *graph.Node) *graph.Node {
	for i, name := range c.net.Names {
		x = c.net.Layers[i].Apply(c.Vars, x)
		if name == "pool" {
			return x
		}
	}
	panic("resnet: ClassifierNet has no pool layer")
}

// head maps penultimate features to class scores (the layers after the pool).
func (c *Classifier) head(x *graph.Node) *graph.Node {
	after := false
	for i, name := range c.net.Names {
		if after {
			x = c.net.Layers[i].Apply(c.Vars, x)
		}
		after = after || name == "pool"
	}
	return x
}

// graphs are the compiled functions, by name: class probabilities, the same averaged with the
// left-right mirror's (test-time augmentation), and the penultimate features.
func (c *Classifier) graph(name string) func(*graph.Node) *graph.Node {
	switch name {
	case "probs":
		return func(x *graph.Node) *graph.Node { return graph.Softmax(c.head(c.features(x)), -1) }
	case "tta":
		probs := func(x *graph.Node) *graph.Node { return graph.Softmax(c.head(c.features(x)), -1) }
		return func(x *graph.Node) *graph.Node { return augment.FlipTTA(probs, x) }
	case "features":
		return c.features
	}
	panic("resnet: no graph " + name)
}

// run applies the named graph to images (each 28*28 pixels in [0,1]) in chunks; width is the
// graph's output width per image.
func (c *Classifier) run(name string, images [][]float32, width int) ([][]float32, error) {
	e := c.execs[name]
	if e == nil {
		f := c.graph(name)
		var err error
		e, err = model.NewExec(c.Vars.Backend, c.Vars.Store, func(_ *model.Scope, x *graph.Node) *graph.Node { return f(x) })
		if err != nil {
			return nil, fmt.Errorf("resnet: %w", err)
		}
		c.execs[name] = e
	}
	chunk := max(1, c.BatchSize)
	out := make([][]float32, 0, len(images))
	for start := 0; start < len(images); start += chunk {
		part := images[start:min(start+chunk, len(images))]
		flat := make([]float32, 0, len(part)*28*28)
		for i, img := range part {
			if len(img) != 28*28 {
				return nil, fmt.Errorf("resnet: image %d has %d values, expected %d (1x28x28)", start+i, len(img), 28*28)
			}
			flat = append(flat, img...)
		}
		res, err := e.Exec(tensors.FromFlatDataAndDimensions(flat, len(part), 1, 28, 28))
		if err != nil {
			return nil, fmt.Errorf("resnet: %w", err)
		}
		vals, err := tensors.CopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		for i := range part {
			out = append(out, vals[i*width:(i+1)*width])
		}
	}
	return out, nil
}

// Probs returns each image's class probabilities; with tta, the mean of the image's and its
// mirror's (test-time augmentation by flip).
func (c *Classifier) Probs(images [][]float32, tta bool) ([][]float32, error) {
	if tta {
		return c.run("tta", images, NumClasses)
	}
	return c.run("probs", images, NumClasses)
}

// Features returns each image's penultimate features: the global average pool's 256 values, what
// lesson 17 compares distributions of (FID, KID).
func (c *Classifier) Features(images [][]float32) ([][]float32, error) {
	return c.run("features", images, FeatureDim)
}

// Accuracy is the fraction of ds the classifier labels correctly, with or without test-time
// augmentation.
func (c *Classifier) Accuracy(ds *data.Dataset, tta bool) (float64, error) {
	return augment.Accuracy(c.Vars, c.net, ds, tta)
}

// Format is the "format" metadata of the classifier's weight files.
const Format = "slowai-fashion-resnet/1"

// Save writes the weights and BatchNorm statistics as safetensors (atomically) with meta (the
// recipe and accuracies, say) and the format: the layout of data/checkpoints/fashion_resnet.safetensors.
func (c *Classifier) Save(path string, meta map[string]string) error {
	m := map[string]string{"format": Format}
	for k, v := range meta {
		m[k] = v
	}
	if err := module.SaveFile(c.Vars, path, c.specs, nil, m); err != nil {
		return fmt.Errorf("resnet: %w", err)
	}
	return nil
}

// Load reads weights written by Save (every parameter and statistic, nothing else, all finite).
func Load(be compute.Backend, path string) (*Classifier, error) {
	if be == nil {
		return nil, errors.New("resnet.Load: backend is nil")
	}
	c := NewClassifier(module.NewVarsOn("/fashion_resnet", be))
	if err := module.LoadFile(c.Vars, path, c.specs, module.Options{Finite: true}); err != nil {
		return nil, fmt.Errorf("resnet: %w", err)
	}
	return c, nil
}

// Close frees the compiled functions.
func (c *Classifier) Close() {
	for k, e := range c.execs {
		e.Finalize()
		delete(c.execs, k)
	}
}
