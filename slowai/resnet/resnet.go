// Package resnet builds lesson 11's residual networks for 28x28 Fashion-MNIST: the ResBlock (two
// 3x3 convolutions with BatchNorm, plus an identity path that is averaged down and widened by a 1x1
// convolution only when the shape changes) and the network of lessons 11 and 12, which the
// course's speed benchmarks also train (slowai/backend/PERFORMANCE.md), and PlainCNN, the
// one-convolution-per-stage network the lesson compares it with.
// The identity path is why deep networks train: at the start each block is close to the identity, so
// the gradient reaches the first layers undiminished.
package resnet

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
)

// AvgPool2Ceil is torch's AvgPool2d(2, ceil_mode=True) on NCHW input: an odd edge gets a window of
// its own (7 -> 4), averaged over the values that exist, as PyTorch divides a window clipped by
// ceil mode by its clipped size.
func AvgPool2Ceil(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	h, w := d[2], d[3]
	padH, padW := h%2, w%2
	if padH == 0 && padW == 0 {
		return nn.AvgPool2D(x, 2, 2, 0)
	}
	g := x.Graph()
	x = graph.Pad(x, graph.ScalarZero(g, x.DType()), graph.PadAxis{}, graph.PadAxis{}, graph.PadAxis{End: padH}, graph.PadAxis{End: padW})
	ho, wo := (h+1)/2, (w+1)/2
	sums := graph.ReduceSum(graph.Reshape(x, d[0], d[1], ho, 2, wo, 2), 3, 5)
	counts := make([]float32, ho*wo)
	for i := range ho {
		for j := range wo {
			rows, cols := min(2, h-2*i), min(2, w-2*j)
			counts[i*wo+j] = float32(rows * cols)
		}
	}
	div := graph.ConvertDType(graph.Const(g, counts), x.DType())
	return graph.Div(sums, graph.Reshape(div, 1, 1, ho, wo))
}

// ResBlock is ReLU(convs(x) + identity(x)); with Plain set it is ReLU(convs(x)) alone, the plain
// CNN block the lesson compares against.
type ResBlock struct {
	Conv1, Conv2 module.Conv2D
	BN1, BN2     module.BatchNorm
	Stride       int
	Widen        *module.Conv2D // the identity path's 1x1 convolution when channels change
	Plain        bool
}

// NewResBlock declares a block in -> out channels under name: conv1 (stride 1), bn1, conv2 (the given
// stride), bn2 and, when in != out and the block is not plain, idconv.
func NewResBlock(s *module.Specs, name string, in, out, stride int, plain bool) *ResBlock {
	b := &ResBlock{Stride: stride, Plain: plain}
	b.Conv1 = module.NewConv2DNoBias(s, name+".conv1", in, out, 3, nn.ConvOpts{Padding: nn.Pair(1)})
	b.BN1 = module.NewBatchNorm(s, name+".bn1", out)
	b.Conv2 = module.NewConv2DNoBias(s, name+".conv2", out, out, 3, nn.ConvOpts{Stride: nn.Pair(stride), Padding: nn.Pair(1)})
	b.BN2 = module.NewBatchNorm(s, name+".bn2", out)
	if in != out && !plain {
		c := module.NewConv2DNoBias(s, name+".idconv", in, out, 1, nn.ConvOpts{})
		b.Widen = &c
	}
	return b
}

// Apply runs the block.
func (b *ResBlock) Apply(v module.Vars, x *graph.Node) *graph.Node {
	h := nn.ReLU(b.BN1.Apply(v, b.Conv1.Apply(v, x)))
	h = b.BN2.Apply(v, b.Conv2.Apply(v, h))
	if b.Plain {
		return nn.ReLU(h)
	}
	id := x
	if b.Stride == 2 {
		id = AvgPool2Ceil(id)
	}
	if b.Widen != nil {
		id = b.Widen.Apply(v, id)
	}
	return nn.ReLU(graph.Add(h, id))
}

// Channels are the network's widths: the input, then each block's output.
var Channels = []int{1, 16, 32, 64, 128, 256}

// New builds the lesson's ResNet (plain: without identity paths): ResBlock(1->16, stride 1), then
// stride-2 blocks 16->32->64->128->256 (28 -> 14 -> 7 -> 4 -> 2), a global average pool,
// Linear(256, 10, no bias) and BatchNorm1d(10). The residual one has 1,225,588 trainable parameters.
func New(plain bool) (*module.Specs, *module.Sequential) {
	s := &module.Specs{}
	seq := &module.Sequential{}
	for i := 0; i+1 < len(Channels); i++ {
		stride := 2
		if i == 0 {
			stride = 1
		}
		name := fmt.Sprintf("res%d", i)
		seq.Add(name, NewResBlock(s, name, Channels[i], Channels[i+1], stride, plain))
	}
	addHead(s, seq)
	return s, seq
}

// addHead ends a network whose last layer has Channels' last width: a global average pool,
// Linear(256, 10, no bias) and BatchNorm1d(10).
func addHead(s *module.Specs, seq *module.Sequential) {
	seq.Add("pool", module.Fn(nn.GlobalAvgPool2D))
	seq.Add("lin", module.NewLinear(s, "lin", Channels[len(Channels)-1], 10, false))
	seq.Add("bn", module.NewBatchNorm(s, "bn", 10))
}

// ConvBNReLU is one layer of lessons 09 and 10's plain CNN: a bias-free 3x3 convolution with the
// given stride, BatchNorm and a ReLU.
type ConvBNReLU struct {
	Conv module.Conv2D
	BN   module.BatchNorm
}

// NewConvBNReLU declares the layer in -> out channels under name: conv and bn.
func NewConvBNReLU(s *module.Specs, name string, in, out, stride int) *ConvBNReLU {
	return &ConvBNReLU{
		Conv: module.NewConv2DNoBias(s, name+".conv", in, out, 3, nn.ConvOpts{Stride: nn.Pair(stride), Padding: nn.Pair(1)}),
		BN:   module.NewBatchNorm(s, name+".bn", out),
	}
}

// Apply runs the layer.
func (c *ConvBNReLU) Apply(v module.Vars, x *graph.Node) *graph.Node {
	return nn.ReLU(c.BN.Apply(v, c.Conv.Apply(v, x)))
}

// PlainCNN is the plain CNN the lesson sets beside the ResNet: lesson 10's stack of ConvBNReLU
// layers grown to the ResNet's widths, strides and head, one convolution where New has a block of
// two: 1->16 (stride 1), then 16->32->64->128->256 with stride 2 (28 -> 14 -> 7 -> 4 -> 2). It has
// 395,396 trainable parameters.
func PlainCNN() (*module.Specs, *module.Sequential) {
	s := &module.Specs{}
	seq := &module.Sequential{}
	for i := 0; i+1 < len(Channels); i++ {
		stride := 2
		if i == 0 {
			stride = 1
		}
		name := fmt.Sprintf("conv%d", i)
		seq.Add(name, NewConvBNReLU(s, name, Channels[i], Channels[i+1], stride))
	}
	addHead(s, seq)
	return s, seq
}

// Model is New as a learn.Model.
func Model(plain bool) learn.Model { return learn.Net(New(plain)) }
