// Package autoenc is lesson 06's convolutional autoencoder: a network trained to output its own
// input through a narrow middle (the bottleneck), on Fashion-MNIST. It is the Python course's
// model: two stride-2 convolutions down (28×28 padded to 32×32, then 16×16, then 8×8), two
// nearest-neighbour upsamplings each followed by a convolution back up, the padding cropped off
// and a sigmoid so the pixels land in [0, 1]; trained with MSE through slowai/learn.
package autoenc

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/conv"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
)

// Padded is the side of the images the network sees: 28 padded to 32, which halves twice
// without rounding (32 → 16 → 8 and back).
const Padded = 32

// UpConv adds a "deconvolution" named name: nearest-neighbour upsampling by 2 (each pixel becomes
// a 2×2 block) and a 3×3 convolution with padding 1 from in to out channels, which smooths the
// blocks and mixes the channels; then a ReLU when act is set.
func UpConv(s *module.Specs, seq *module.Sequential, name string, in, out int, act bool) {
	seq.Add("up"+name, module.Fn(func(x *graph.Node) *graph.Node { return nn.UpsampleNearest2D(x, 2) }))
	seq.Add("conv"+name, module.NewConv2D(s, name, in, out, 3, nn.ConvOpts{Padding: nn.Pair(1)}))
	if act {
		seq.Add("relu"+name, module.Fn(nn.ReLU))
	}
}

// ConvAE is the autoencoder for 1×32×32 inputs (Fashion-MNIST padded by Prepare): 1 → 2 → 4
// channels down to 4×8×8 = 256 numbers, then 4 → 2 → 1 back up to 32×32, cropped to the 28×28
// image and squashed by a sigmoid. 189 parameters.
func ConvAE(s *module.Specs) *module.Sequential {
	seq := &module.Sequential{}
	conv.Stride2(s, seq, "0", 1, 2, true) // 32 → 16
	conv.Stride2(s, seq, "1", 2, 4, true) // 16 → 8: the bottleneck
	UpConv(s, seq, "2", 4, 2, true)       // 8 → 16
	UpConv(s, seq, "3", 2, 1, false)      // 16 → 32
	seq.Add("crop", module.Fn(func(x *graph.Node) *graph.Node {
		m := (Padded - 28) / 2
		return graph.Slice(x, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(m, Padded-m), graph.AxisRange(m, Padded-m))
	}))
	seq.Add("sigmoid", module.Fn(graph.Sigmoid))
	return seq
}

// Prepare makes an autoencoder's step from a loader's batch of 28×28 images: the input is the
// batch padded with zeros to 32×32 (data.Pad), the target the unpadded images themselves.
// Labels are not used.
func Prepare(b *data.Batch, _ *rand.Rand) (learn.Batch, error) {
	if b.H != 28 || b.W != 28 {
		return learn.Batch{}, fmt.Errorf("autoenc.Prepare: images are %dx%d, want 28x28", b.H, b.W)
	}
	target, _ := b.Tensors()
	padded := *b
	padded.X = append([]float32(nil), b.X...)
	if err := data.Pad(Padded, 0)(&padded, nil); err != nil {
		return learn.Batch{}, err
	}
	input, _ := padded.Tensors()
	return learn.Batch{Inputs: []*tensors.Tensor{input}, Targets: []*tensors.Tensor{target}, Host: b}, nil
}

// encoderLayers is the number of ConvAE's layers before the bottleneck: two convolutions with
// their ReLUs.
const encoderLayers = 4

// Encode runs the encoder half of seq (a ConvAE trained by l) on a batch of 28×28 images,
// padded as Prepare pads them, and returns their codes: n×4×8×8 values.
func Encode(l *learn.Learner, seq *module.Sequential, b *data.Batch) ([]float32, error) {
	step, err := Prepare(b, nil)
	if err != nil {
		return nil, err
	}
	return runLayers(l, seq.Layers[:encoderLayers], step.Inputs[0])
}

// Decode runs the decoder half of seq (a ConvAE trained by l) on n codes of 4×8×8 values and
// returns n 28×28 images.
func Decode(l *learn.Learner, seq *module.Sequential, codes []float32, n int) ([]float32, error) {
	if len(codes) != n*4*8*8 {
		return nil, fmt.Errorf("autoenc.Decode: %d values for %d codes, want n·4·8·8 = %d", len(codes), n, n*4*8*8)
	}
	return runLayers(l, seq.Layers[encoderLayers:], tensors.FromFlatDataAndDimensions(codes, n, 4, 8, 8))
}

// runLayers applies layers, with l's parameters, to x.
func runLayers(l *learn.Learner, layers []module.Layer, x *tensors.Tensor) ([]float32, error) {
	exec, err := model.NewExec(l.Backend(), l.Vars.Store, func(_ *model.Scope, x *graph.Node) *graph.Node {
		for _, layer := range layers {
			x = layer.Apply(l.Vars, x)
		}
		return x
	})
	if err != nil {
		return nil, fmt.Errorf("autoenc: %w", err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(x)
	if err != nil {
		return nil, fmt.Errorf("autoenc: %w", err)
	}
	defer outs[0].FinalizeAll()
	return tensors.CopyFlatData[float32](outs[0])
}

// Predict runs l's model forward (no training) on a batch after l's Prepare, and returns the
// predictions as flat float32s: for the autoencoder, the reconstructed images.
func Predict(l *learn.Learner, b *data.Batch) ([]float32, error) {
	step, err := l.Options.Prepare(b, nil)
	if err != nil {
		return nil, err
	}
	exec, err := model.NewExec(l.Backend(), l.Vars.Store, func(_ *model.Scope, in []*graph.Node) *graph.Node {
		return l.Model.Forward(l.Vars, in)
	})
	if err != nil {
		return nil, fmt.Errorf("autoenc.Predict: %w", err)
	}
	defer exec.Finalize()
	args := make([]any, len(step.Inputs))
	for i, t := range step.Inputs {
		args[i] = t
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("autoenc.Predict: %w", err)
	}
	defer outs[0].FinalizeAll()
	return tensors.CopyFlatData[float32](outs[0])
}
