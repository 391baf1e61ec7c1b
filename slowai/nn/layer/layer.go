// Package layer holds the parameterised layers of the course: each creates (or, when they exist, fetches) its
// variables in a GoMLX model.Scope under PyTorch's names and shapes ("weight" [out, in], "bias" [out], ...) and
// calls the functional op of package nn. The scope passed in is the module's own scope, so a layer called with
// scope "down_blocks/0/resnets/0/conv1" owns the state-dict keys "down_blocks.0.resnets.0.conv1.weight" and
// ".bias" (see package nn for the mapping and LoadStateDict).
//
// Variables take the dtype of the layer's input and PyTorch's default initialisation, so a freshly built model
// starts where the same PyTorch model would (in distribution). Layers whose behaviour differs between training
// and inference (BatchNorm, Dropout) read model.Store.IsTraining for the graph being built.
//
// Weightless ops (activations, pooling, upsampling) need no scope: use them from package nn directly.
package layer

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/slowai-go/course/slowai/nn"
)

// uniformInit draws U(-bound, bound) from the store's random state, PyTorch's init for Linear/Conv weights and
// biases (kaiming_uniform with a=sqrt(5) gives bound 1/sqrt(fan_in) for the weight, and the bias uses the same).
func uniformInit(s *model.Scope, bound float64) model.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		u := s.RandomUniform(g, shape)
		return AddScalar(MulScalar(u, 2*bound), -bound)
	}
}

func constInit(v float64) model.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		return BroadcastToDims(Scalar(g, shape.DType, v), shape.Dimensions...)
	}
}

func normalInit(s *model.Scope, std float64) model.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		return MulScalar(s.RandomNormal(g, shape), std)
	}
}

// param returns the graph value of variable name in s, creating it with shape and init when it does not exist.
func param(s *model.Scope, g *Graph, name string, init model.VariableInitializer, dtype dtypes.DType, dims ...int) *Node {
	return s.WithInitializer(init).VariableWithShape(name, shapes.Make(dtype, dims...)).NodeValue(g)
}

// buffer creates or fetches a non-trainable variable (running statistics and counters).
func buffer(s *model.Scope, name string, init model.VariableInitializer, dtype dtypes.DType, dims ...int) *model.Variable {
	v := s.WithInitializer(init).VariableWithShape(name, shapes.Make(dtype, dims...))
	v.SetTrainable(false)
	return v
}

// Linear is torch.nn.Linear(in, out, bias) applied to x [..., in]: variables "weight" [out, in] and, with bias,
// "bias" [out].
func Linear(s *model.Scope, x *Node, out int, bias bool) *Node {
	g := x.Graph()
	in := x.Shape().Dimensions[x.Rank()-1]
	bound := 1 / math.Sqrt(float64(in))
	w := param(s, g, "weight", uniformInit(s, bound), x.DType(), out, in)
	var b *Node
	if bias {
		b = param(s, g, "bias", uniformInit(s, bound), x.DType(), out)
	}
	return nn.Linear(x, w, b)
}

// Conv2D is torch.nn.Conv2d(in, out, kernel, ...) on NCHW x: variables "weight" [out, in/groups, kernel, kernel]
// and, with bias, "bias" [out]. Stride, padding, dilation and groups come from opt.
func Conv2D(s *model.Scope, x *Node, out, kernel int, opt nn.ConvOpts, bias bool) *Node {
	g := x.Graph()
	in := x.Shape().Dimensions[1]
	groups := max(opt.Groups, 1)
	if in%groups != 0 || out%groups != 0 {
		exceptions.Panicf("layer.Conv2D at %s: in=%d and out=%d channels must be divisible by groups=%d", s.Scope(), in, out, groups)
	}
	fanIn := in / groups * kernel * kernel
	bound := 1 / math.Sqrt(float64(fanIn))
	w := param(s, g, "weight", uniformInit(s, bound), x.DType(), out, in/groups, kernel, kernel)
	var b *Node
	if bias {
		b = param(s, g, "bias", uniformInit(s, bound), x.DType(), out)
	}
	return nn.Conv2D(x, w, b, opt)
}

// UpConv upsamples x by factor (nearest) and applies a stride-1 Conv2D with "same" padding whose variables live
// directly in s: the upsample-then-convolve block of the course and of diffusers' Upsample2D (whose conv sits
// at ".conv", so pass s.At("conv") there).
func UpConv(s *model.Scope, x *Node, out, kernel, factor int, bias bool) *Node {
	return Conv2D(s, nn.UpsampleNearest2D(x, factor), out, kernel, nn.ConvOpts{Same: true}, bias)
}

// BatchNorm is torch.nn.BatchNorm{1,2}d(C, eps, momentum) on x [B, C, ...]: trainable "weight" and "bias" [C],
// and buffers "running_mean", "running_var" [C] and "num_batches_tracked" (int64 scalar), as PyTorch saves them.
// While the store is training for this graph it normalises with batch statistics and updates the buffers
// (running = (1-momentum)*running + momentum*batch, with the unbiased batch variance); otherwise it uses the
// running statistics. PyTorch's defaults are momentum 0.1, eps 1e-5.
func BatchNorm(s *model.Scope, x *Node, momentum, eps float64) *Node {
	g := x.Graph()
	c := x.Shape().Dimensions[1]
	dt := x.DType()
	gamma := param(s, g, "weight", constInit(1), dt, c)
	beta := param(s, g, "bias", constInit(0), dt, c)
	rm := buffer(s, "running_mean", constInit(0), dt, c)
	rv := buffer(s, "running_var", constInit(1), dt, c)
	nb := buffer(s, "num_batches_tracked", constInit(0), dtypes.Int64)
	if !s.IsTraining(g) {
		y, _, _ := nn.BatchNorm(x, gamma, beta, rm.NodeValue(g), rv.NodeValue(g), false, eps)
		return y
	}
	y, mean, variance := nn.BatchNorm(x, gamma, beta, nil, nil, true, eps)
	n := x.Shape().Size() / c
	unbiased := variance
	if n > 1 {
		unbiased = MulScalar(variance, float64(n)/float64(n-1))
	}
	mean, unbiased = StopGradient(mean), StopGradient(unbiased)
	rm.SetNodeValue(Add(MulScalar(rm.NodeValue(g), 1-momentum), MulScalar(mean, momentum)))
	rv.SetNodeValue(Add(MulScalar(rv.NodeValue(g), 1-momentum), MulScalar(unbiased, momentum)))
	nb.SetNodeValue(AddScalar(nb.NodeValue(g), 1))
	return y
}

// LayerNorm is torch.nn.LayerNorm(C, eps, elementwise_affine) over the last axis: "weight" [C] (ones) and "bias"
// [C] (zeros) when affine. PyTorch's default eps is 1e-5.
func LayerNorm(s *model.Scope, x *Node, eps float64, affine bool) *Node {
	if !affine {
		return nn.LayerNorm(x, nil, nil, eps)
	}
	g, c := x.Graph(), x.Shape().Dimensions[x.Rank()-1]
	gamma := param(s, g, "weight", constInit(1), x.DType(), c)
	beta := param(s, g, "bias", constInit(0), x.DType(), c)
	return nn.LayerNorm(x, gamma, beta, eps)
}

// GroupNorm is torch.nn.GroupNorm(groups, C, eps, affine) on x [B, C, ...]: "weight" [C] (ones) and "bias" [C]
// (zeros) when affine. PyTorch's default eps is 1e-5 (SD's VAE and UNet use 1e-6 and 1e-5).
func GroupNorm(s *model.Scope, x *Node, groups int, eps float64, affine bool) *Node {
	if !affine {
		return nn.GroupNorm(x, nil, nil, groups, eps)
	}
	g, c := x.Graph(), x.Shape().Dimensions[1]
	gamma := param(s, g, "weight", constInit(1), x.DType(), c)
	beta := param(s, g, "bias", constInit(0), x.DType(), c)
	return nn.GroupNorm(x, gamma, beta, groups, eps)
}

// Dropout is torch.nn.Dropout(rate): active only while the store is training for this graph, drawing its mask
// from the store's random state (which it advances).
func Dropout(s *model.Scope, x *Node, rate float64) *Node {
	if rate <= 0 || !s.IsTraining(x.Graph()) {
		return x
	}
	u := s.RandomUniform(x.Graph(), x.Shape())
	return nn.DropoutWithNoise(x, u, rate)
}

// Embedding is torch.nn.Embedding(num, dim): "weight" [num, dim] initialised N(0, 1) like PyTorch, looked up by
// the integer ids (any shape); the result has shape ids.shape + [dim] and the given float dtype.
func Embedding(s *model.Scope, ids *Node, num, dim int, dtype dtypes.DType) *Node {
	table := param(s, ids.Graph(), "weight", normalInit(s, 1), dtype, num, dim)
	return nn.Embedding(ids, table)
}

// AttentionConfig describes a diffusers-style attention block.
type AttentionConfig struct {
	// Heads is the number of attention heads.
	Heads int
	// HeadDim is the size of each head; 0 means the query width divided by Heads. The inner width is
	// Heads*HeadDim, as diffusers' Attention(query_dim, heads, dim_head).
	HeadDim int
	// QKVBias gives to_q, to_k and to_v a bias (diffusers' bias=True: the VAE mid-block; UNet transformer blocks
	// have none).
	QKVBias bool
	// NoOutBias drops the bias of to_out.0 (diffusers' out_bias=False; rarely used).
	NoOutBias bool
	// Names overrides the dotted sub-module names of the query, key, value and output projections; empty means
	// diffusers' {"to_q", "to_k", "to_v", "to_out.0"}. CLIP (transformers) uses {"q_proj", "k_proj", "v_proj",
	// "out_proj"} with QKVBias.
	Names [4]string
}

// DiffusersNames and CLIPNames are the projection names of diffusers' Attention and transformers' CLIPAttention.
var (
	DiffusersNames = [4]string{"to_q", "to_k", "to_v", "to_out.0"}
	CLIPNames      = [4]string{"q_proj", "k_proj", "v_proj", "out_proj"}
)

func (cfg AttentionConfig) inner(queryDim int) (heads, inner int) {
	if cfg.Heads <= 0 {
		exceptions.Panicf("layer attention: AttentionConfig.Heads must be positive, got %d", cfg.Heads)
	}
	hd := cfg.HeadDim
	if hd <= 0 {
		if queryDim%cfg.Heads != 0 {
			exceptions.Panicf("layer attention: query width %d not divisible by %d heads; set HeadDim", queryDim, cfg.Heads)
		}
		hd = queryDim / cfg.Heads
	}
	return cfg.Heads, cfg.Heads * hd
}

// attend projects x to queries and context to keys/values (to_q/to_k/to_v by default), attends, and projects
// back to x's width (to_out.0).
func attend(s *model.Scope, x, context *Node, cfg AttentionConfig, mask *Node, causal bool) *Node {
	c := x.Shape().Dimensions[2]
	heads, inner := cfg.inner(c)
	names := cfg.Names
	if names == ([4]string{}) {
		names = DiffusersNames
	}
	q := Linear(nn.ScopeAt(s, names[0]), x, inner, cfg.QKVBias)
	k := Linear(nn.ScopeAt(s, names[1]), context, inner, cfg.QKVBias)
	v := Linear(nn.ScopeAt(s, names[2]), context, inner, cfg.QKVBias)
	o := nn.Attention(q, k, v, heads, mask, causal)
	return Linear(nn.ScopeAt(s, names[3]), o, c, !cfg.NoOutBias)
}

// MultiHeadSelfAttention is diffusers' Attention block used as self-attention on x [B, T, C]: sub-scopes
// "to_q", "to_k", "to_v" (Linear C -> inner) and "to_out/0" (Linear inner -> C), or cfg.Names. See nn.Attention
// for mask and causal.
func MultiHeadSelfAttention(s *model.Scope, x *Node, cfg AttentionConfig, mask *Node, causal bool) *Node {
	return attend(s, x, x, cfg, mask, causal)
}

// CrossAttention is diffusers' Attention block with queries from x [B, Tq, C] and keys/values from context
// [B, Tk, Cctx] (SD's text embeddings): same sub-scopes as MultiHeadSelfAttention, with to_k and to_v taking
// Cctx inputs. mask (may be nil) is as in nn.Attention.
func CrossAttention(s *model.Scope, x, context *Node, cfg AttentionConfig, mask *Node) *Node {
	return attend(s, x, context, cfg, mask, false)
}
