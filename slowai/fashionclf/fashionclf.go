// Package fashionclf is a small CNN that classifies Fashion-MNIST at about 91 % test accuracy.
// Lesson 13 uses it as a judge of generated images: a sampler that makes recognisable clothes in
// every class gets confident predictions spread over all ten classes.
//
// The network (Net): inputs normalised with the training set's mean and std, conv3x3(1→32) ReLU
// maxpool2, conv3x3(32→64) ReLU maxpool2, linear(3136→128) ReLU, linear(128→10), declared on
// module.Specs under PyTorch's names and layouts (conv1.weight ... fc2.bias). It trains through
// learn.Learner; Recipe is how the committed classifier was trained.
package fashionclf

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
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

// maxPool2 halves H and W by taking the max of each 2x2 block (reshape + reduce: its gradient
// needs nothing beyond broadcasting, so it runs on every backend).
func maxPool2(x *Node) *Node {
	d := x.Shape().Dimensions
	return ReduceMax(Reshape(x, d[0], d[1], d[2]/2, 2, d[3]/2, 2), 3, 5)
}

// Net declares the classifier: it maps images [B, 1, 28, 28] in [0,1] to class scores [B, 10].
// The normalisation is part of the network, so callers (and the classifier's users) pass plain
// pixels.
func Net() (*module.Specs, *module.Sequential) {
	s := &module.Specs{}
	pad := nn.ConvOpts{Padding: nn.Pair(1)}
	seq := &module.Sequential{}
	seq.Add("normalize", module.Fn(func(x *Node) *Node { return DivScalar(AddScalar(x, -mean), std) }))
	seq.Add("conv1", module.NewConv2D(s, "conv1", 1, 32, 3, pad))
	seq.Add("relu1", module.Fn(nn.ReLU))
	seq.Add("pool1", module.Fn(maxPool2))
	seq.Add("conv2", module.NewConv2D(s, "conv2", 32, 64, 3, pad))
	seq.Add("relu2", module.Fn(nn.ReLU))
	seq.Add("pool2", module.Fn(maxPool2))
	seq.Add("flatten", module.Flatten)
	seq.Add("fc1", module.NewLinear(s, "fc1", 64*7*7, 128, true))
	seq.Add("relu3", module.Fn(nn.ReLU))
	seq.Add("fc2", module.NewLinear(s, "fc2", 128, NumClasses, true))
	return s, seq
}

// Classifier is a trained (or loaded) network with its weights in Vars.
type Classifier struct {
	Vars  module.Vars
	specs *module.Specs
	net   *module.Sequential
	probs *model.Exec
}

// newClassifier wraps weights already in v.
func newClassifier(v module.Vars) *Classifier {
	s, seq := Net()
	return &Classifier{Vars: v, specs: s, net: seq}
}

// Stage is one part of a training recipe: Epochs passes over the data with Adam, its learning
// rate decaying along a cosine from LR to 5 % of LR; Flip mirrors each training image left-right
// with probability 1/2.
type Stage struct {
	Epochs int
	LR     float64
	Flip   bool
}

// Recipe is how the committed classifier was trained (batch 128): 3 epochs at lr 1e-3 with random
// flips, then 1 epoch at lr 3e-4 without, which fits the unflipped images the test set has.
var Recipe = []Stage{{Epochs: 3, LR: 1e-3, Flip: true}, {Epochs: 1, LR: 3e-4}}

// Train fits a new classifier to train (28x28 grey images), stage after stage, with one Learner
// (Adam, its moments carried from stage to stage), so callbacks (a learn.Recorder, learn.Progress,
// learn.Metrics with valid) see the whole run. valid may be nil. It returns the classifier and the
// Learner, whose store holds the weights.
func Train(be compute.Backend, train, valid *data.Dataset, batchSize int, seed uint64, stages []Stage, cbs ...learn.Callback) (*Classifier, *learn.Learner, error) {
	if train == nil || train.C != 1 || train.H != H || train.W != W {
		return nil, nil, errors.New("fashionclf.Train: want a training set of 28x28 grey images")
	}
	if len(stages) == 0 || batchSize <= 0 {
		return nil, nil, fmt.Errorf("fashionclf.Train: %d stages with batch size %d, want at least one stage and a batch > 0", len(stages), batchSize)
	}
	specs, seq := Net()
	var l *learn.Learner
	for i, st := range stages {
		if st.Epochs <= 0 || st.LR <= 0 {
			return nil, nil, fmt.Errorf("fashionclf.Train: stage %d has %d epochs at lr %g, want both > 0", i, st.Epochs, st.LR)
		}
		o := data.LoaderOptions{Shuffle: true, Seed: seed + uint64(i)}
		if st.Flip {
			o.Transforms = []data.Transform{data.RandomFlip(0.5)}
		}
		var dls data.Loaders
		var err error
		if valid != nil {
			dls, err = data.NewLoaders(train, valid, batchSize, o)
		} else {
			dls.Train, err = data.NewLoader(train, batchSize, o)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("fashionclf.Train: %w", err)
		}
		if l == nil {
			l, err = learn.New(learn.Net(specs, seq), dls, learn.CrossEntropy, optim.Adam{LR: st.LR},
				learn.Options{Backend: be, Seed: seed}, cbs...)
			if err != nil {
				return nil, nil, fmt.Errorf("fashionclf.Train: %w", err)
			}
		}
		l.Data = dls
		// The stage's cosine, shifted to start at the Learner's next step.
		from := l.Step
		cos := optim.Cosine(st.LR, 0.05*st.LR, st.Epochs*dls.Train.Len())
		sched := learn.Schedule{LR: func(step int) float64 { return cos(step - from) }}
		if err := l.Fit(st.Epochs, sched); err != nil {
			l.Close()
			return nil, nil, fmt.Errorf("fashionclf.Train: stage %d: %w", i, err)
		}
	}
	l.Close()
	return newClassifier(l.Vars), l, nil
}

// Probs returns the class probabilities of images (each 28*28 values in [0,1]).
func (c *Classifier) Probs(images [][]float32) ([][]float32, error) {
	if c.probs == nil {
		e, err := model.NewExec(c.Vars.Backend, c.Vars.Store, func(_ *model.Scope, x *Node) *Node {
			return Softmax(c.net.Apply(c.Vars, x), -1)
		})
		if err != nil {
			return nil, fmt.Errorf("fashionclf: %w", err)
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
		res, err := c.probs.Exec(tensors.FromFlatDataAndDimensions(flat, len(part), 1, H, W))
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

// Format is the "format" metadata of the classifier's weight files.
const Format = "slowai-fashionclf/1"

// Save writes the weights as safetensors under their PyTorch names (atomically) with the test
// accuracy in the metadata: the layout of the committed data/checkpoints/fashion_classifier.safetensors.
func (c *Classifier) Save(path string, testAccuracy float64) error {
	err := module.SaveFile(c.Vars, path, c.specs, nil, map[string]string{
		"format": Format, "test_accuracy": strconv.FormatFloat(testAccuracy, 'f', 4, 64),
	})
	if err != nil {
		return fmt.Errorf("fashionclf: %w", err)
	}
	return nil
}

// Load reads weights written by Save (module.LoadFile: every parameter, nothing else, all finite).
func Load(be compute.Backend, path string) (*Classifier, error) {
	if be == nil {
		return nil, errors.New("fashionclf.Load: backend is nil")
	}
	v := module.NewVarsOn("/fashionclf", be)
	c := newClassifier(v)
	if err := module.LoadFile(v, path, c.specs, module.Options{Finite: true}); err != nil {
		return nil, fmt.Errorf("fashionclf: %w", err)
	}
	return c, nil
}

// Close frees the compiled forward pass.
func (c *Classifier) Close() {
	if c.probs != nil {
		c.probs.Finalize()
		c.probs = nil
	}
}
