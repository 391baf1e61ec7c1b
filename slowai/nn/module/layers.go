package module

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/slowai-go/course/slowai/nn"
)

// The layers below are the leaves of every model's module tree. Each constructor declares the
// layer's parameters under its checkpoint name (so a model built from config knows exactly what
// its checkpoint must hold) and returns a small value that remembers the names; Apply looks the
// parameters up in Vars while building a graph.

// Linear is torch.nn.Linear: weight [out, in], optional bias [out].
type Linear struct {
	Name    string
	In, Out int
	Bias    bool
}

// NewLinear declares name.weight (and name.bias when bias).
func NewLinear(s *Specs, name string, in, out int, bias bool) Linear {
	s.Add(Spec{Name: name + ".weight", Shape: []int{out, in}})
	if bias {
		s.Add(Spec{Name: name + ".bias", Shape: []int{out}, Init: InitBias, FanIn: in})
	}
	return Linear{Name: name, In: in, Out: out, Bias: bias}
}

// NewLinearOrConv1x1 is NewLinear for a layer that some checkpoints store as a 1×1 convolution
// (weight [out, in, 1, 1]), the same linear map: both layouts load.
func NewLinearOrConv1x1(s *Specs, name string, in, out int, bias bool) Linear {
	s.Add(Spec{Name: name + ".weight", Shape: []int{out, in}, Conv1x1OK: true})
	if bias {
		s.Add(Spec{Name: name + ".bias", Shape: []int{out}, Init: InitBias, FanIn: in})
	}
	return Linear{Name: name, In: in, Out: out, Bias: bias}
}

// Apply computes x @ weightᵀ + bias over the last axis of x.
func (l Linear) Apply(v Vars, x *Node) *Node {
	g := x.Graph()
	var b *Node
	if l.Bias {
		b = v.Node(g, l.Name+".bias")
	}
	return nn.Linear(x, v.Node(g, l.Name+".weight"), b)
}

// Conv2D is torch.nn.Conv2d with a square kernel, weight [out, in, k, k] and bias [out].
type Conv2D struct {
	Name    string
	In, Out int
	Kernel  int
	Opts    nn.ConvOpts
	NoBias  bool
}

// NewConv2D declares name.weight and name.bias.
func NewConv2D(s *Specs, name string, in, out, kernel int, opts nn.ConvOpts) Conv2D {
	s.Add(Spec{Name: name + ".weight", Shape: []int{out, in, kernel, kernel}})
	s.Add(Spec{Name: name + ".bias", Shape: []int{out}, Init: InitBias, FanIn: in * kernel * kernel})
	return Conv2D{Name: name, In: in, Out: out, Kernel: kernel, Opts: opts}
}

// NewConv2DNoBias declares only name.weight: for a convolution followed by a normalisation, whose
// shift makes a bias redundant.
func NewConv2DNoBias(s *Specs, name string, in, out, kernel int, opts nn.ConvOpts) Conv2D {
	s.Add(Spec{Name: name + ".weight", Shape: []int{out, in, kernel, kernel}})
	return Conv2D{Name: name, In: in, Out: out, Kernel: kernel, Opts: opts, NoBias: true}
}

// Apply convolves NCHW x.
func (c Conv2D) Apply(v Vars, x *Node) *Node {
	g := x.Graph()
	var b *Node
	if !c.NoBias {
		b = v.Node(g, c.Name+".bias")
	}
	return nn.Conv2D(x, v.Node(g, c.Name+".weight"), b, c.Opts)
}

// GroupNorm is torch.nn.GroupNorm with affine weight and bias [C].
type GroupNorm struct {
	Name     string
	Channels int
	Groups   int
	Eps      float64
}

// NewGroupNorm declares name.weight and name.bias.
func NewGroupNorm(s *Specs, name string, groups, channels int, eps float64) GroupNorm {
	s.Add(Spec{Name: name + ".weight", Shape: []int{channels}, Init: InitOnes})
	s.Add(Spec{Name: name + ".bias", Shape: []int{channels}, Init: InitZeros})
	return GroupNorm{Name: name, Channels: channels, Groups: groups, Eps: eps}
}

// Apply normalises x [B, C, ...].
func (n GroupNorm) Apply(v Vars, x *Node) *Node {
	g := x.Graph()
	return nn.GroupNorm(x, v.Node(g, n.Name+".weight"), v.Node(g, n.Name+".bias"), n.Groups, n.Eps)
}

// LayerNorm is torch.nn.LayerNorm over the last axis with weight and bias [C].
type LayerNorm struct {
	Name     string
	Channels int
	Eps      float64
}

// NewLayerNorm declares name.weight and name.bias.
func NewLayerNorm(s *Specs, name string, channels int, eps float64) LayerNorm {
	s.Add(Spec{Name: name + ".weight", Shape: []int{channels}, Init: InitOnes})
	s.Add(Spec{Name: name + ".bias", Shape: []int{channels}, Init: InitZeros})
	return LayerNorm{Name: name, Channels: channels, Eps: eps}
}

// Apply normalises the last axis of x.
func (n LayerNorm) Apply(v Vars, x *Node) *Node {
	g := x.Graph()
	return nn.LayerNorm(x, v.Node(g, n.Name+".weight"), v.Node(g, n.Name+".bias"), n.Eps)
}

// Embedding is torch.nn.Embedding: weight [num, dim].
type Embedding struct {
	Name     string
	Num, Dim int
}

// NewEmbedding declares name.weight.
func NewEmbedding(s *Specs, name string, num, dim int) Embedding {
	s.Add(Spec{Name: name + ".weight", Shape: []int{num, dim}, Init: InitEmbedding})
	return Embedding{Name: name, Num: num, Dim: dim}
}

// Apply looks up integer ids (any shape) -> ids.shape + [dim].
func (e Embedding) Apply(v Vars, ids *Node) *Node {
	return nn.Embedding(ids, v.Node(ids.Graph(), e.Name+".weight"))
}

// Table returns the whole embedding matrix.
func (e Embedding) Table(v Vars, g *Graph) *Node {
	return v.Node(g, e.Name+".weight")
}

// BatchNorm is torch.nn.BatchNorm1d/2d over axis 1 of x [B, C, ...]: weight and bias [C] trained,
// running_mean and running_var [C] kept as buffers. In a training graph (Vars.Train) it normalises
// with the batch's mean and variance and moves the running statistics towards them by Momentum
// (with the unbiased variance, as PyTorch does); otherwise it normalises with the running ones.
type BatchNorm struct {
	Name     string
	Channels int
	Momentum float64 // PyTorch's default 0.1
	Eps      float64 // PyTorch's default 1e-5
}

// NewBatchNorm declares name.weight, name.bias, name.running_mean and name.running_var.
func NewBatchNorm(s *Specs, name string, channels int) BatchNorm {
	s.Add(Spec{Name: name + ".weight", Shape: []int{channels}, Init: InitOnes})
	s.Add(Spec{Name: name + ".bias", Shape: []int{channels}, Init: InitZeros})
	s.Add(Spec{Name: name + ".running_mean", Shape: []int{channels}, Init: InitZeros, Buffer: true})
	s.Add(Spec{Name: name + ".running_var", Shape: []int{channels}, Init: InitOnes, Buffer: true})
	return BatchNorm{Name: name, Channels: channels, Momentum: 0.1, Eps: 1e-5}
}

// Apply normalises x.
func (n BatchNorm) Apply(v Vars, x *Node) *Node {
	g := x.Graph()
	gamma, beta := v.Node(g, n.Name+".weight"), v.Node(g, n.Name+".bias")
	rm, rv := v.Node(g, n.Name+".running_mean"), v.Node(g, n.Name+".running_var")
	if !v.Train {
		y, _, _ := nn.BatchNorm(x, gamma, beta, rm, rv, false, n.Eps)
		return y
	}
	y, mean, variance := nn.BatchNorm(x, gamma, beta, nil, nil, true, n.Eps)
	count := x.Shape().Size() / n.Channels
	if count > 1 {
		variance = MulScalar(variance, float64(count)/float64(count-1))
	}
	m := n.Momentum
	v.SetNode(n.Name+".running_mean", Add(MulScalar(rm, 1-m), MulScalar(StopGradient(mean), m)))
	v.SetNode(n.Name+".running_var", Add(MulScalar(rv, 1-m), MulScalar(StopGradient(variance), m)))
	return y
}
