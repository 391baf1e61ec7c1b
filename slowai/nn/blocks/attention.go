package blocks

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
)

// AttnOpts are an Attention block's choices. The zero value is one head of self-attention with
// bias-free q/k/v projections, no norm and no residual.
type AttnOpts struct {
	// Heads splits the channels into this many heads; 0 means 1.
	Heads int
	// ContextDim is the width of the context that keys and values are computed from in
	// cross-attention; 0 means the block's own width (self-attention).
	ContextDim int
	// Bias gives the q/k/v projections a bias (the output projection always has one): diffusers'
	// VAE attention does, the U-Net's does not.
	Bias bool
	// Conv1x1OK lets a checkpoint store the projections as 1×1 convolutions (old VAE exports).
	Conv1x1OK bool
	// NormGroups > 0 puts a GroupNorm ("group_norm", NormGroups groups, eps NormEps) on the
	// input's channels first, as the VAE's attention does.
	NormGroups int
	NormEps    float64
	// Residual adds the block's input to its output.
	Residual bool
}

// Attention is diffusers' Attention with the default processor: project to queries (from x) and
// keys and values (from the context, or x itself), multi-head scaled dot-product attention
// (nn.Attention), and an output projection. It works on tokens [B, T, C] or on an image
// [B, C, H, W], whose H·W pixels are then the tokens, and returns the input's layout.
//
// Stable Diffusion's U-Net uses it inside its transformer blocks (several heads, no bias, self-
// and cross-attention to the text); its VAE uses it alone over the pixels of the latent image
// (one head, bias, GroupNorm first, residual).
type Attention struct {
	Name         string
	Dim          int
	Norm         *module.GroupNorm // nil unless NormGroups > 0
	Q, K, V, Out module.Linear
	Heads        int
	Residual     bool
	contextWidth int
}

// NewAttention declares an attention block of width dim under name: name.to_q, name.to_k,
// name.to_v, name.to_out.0 and, with NormGroups, name.group_norm.
func NewAttention(s *module.Specs, name string, dim int, o AttnOpts) Attention {
	if o.Heads == 0 {
		o.Heads = 1
	}
	if dim%o.Heads != 0 {
		panic(fmt.Sprintf("blocks.NewAttention %q: width %d is not divisible by %d heads", name, dim, o.Heads))
	}
	kv := o.ContextDim
	if kv == 0 {
		kv = dim
	}
	lin := module.NewLinear
	if o.Conv1x1OK {
		lin = module.NewLinearOrConv1x1
	}
	a := Attention{Name: name, Dim: dim, Heads: o.Heads, Residual: o.Residual, contextWidth: kv}
	if o.NormGroups > 0 {
		n := module.NewGroupNorm(s, name+".group_norm", o.NormGroups, dim, o.NormEps)
		a.Norm = &n
	}
	a.Q = lin(s, name+".to_q", dim, dim, o.Bias)
	a.K = lin(s, name+".to_k", kv, dim, o.Bias)
	a.V = lin(s, name+".to_v", kv, dim, o.Bias)
	a.Out = lin(s, name+".to_out.0", dim, dim, true)
	return a
}

// Apply attends from x — tokens [B, T, Dim] or an image [B, Dim, H, W] — to context
// [B, Tc, ContextDim], or to x itself (after the norm) when context is nil.
func (a Attention) Apply(v module.Vars, x, context *Node) *Node {
	d := x.Shape().Dimensions
	var h *Node
	switch {
	case x.Rank() == 4 && d[1] == a.Dim:
		h = x
		if a.Norm != nil {
			h = a.Norm.Apply(v, h)
		}
		h = Transpose(Reshape(h, d[0], d[1], d[2]*d[3]), 1, 2) // [B, HW, C]
	case x.Rank() == 3 && d[2] == a.Dim:
		h = x
		if a.Norm != nil {
			h = Transpose(a.Norm.Apply(v, Transpose(h, 1, 2)), 1, 2)
		}
	default:
		panic(fmt.Sprintf("blocks.Attention %q: x must be [B, T, %d] or [B, %d, H, W], got %s", a.Name, a.Dim, a.Dim, x.Shape()))
	}
	kv := h
	if context != nil {
		kv = context
	}
	if cd := kv.Shape().Dimensions; kv.Rank() != 3 || cd[0] != d[0] || cd[2] != a.contextWidth {
		panic(fmt.Sprintf("blocks.Attention %q: context must be [%d, T, %d], got %s", a.Name, d[0], a.contextWidth, kv.Shape()))
	}
	h = nn.Attention(a.Q.Apply(v, h), a.K.Apply(v, kv), a.V.Apply(v, kv), a.Heads, nil, false)
	h = a.Out.Apply(v, h)
	if x.Rank() == 4 {
		h = Reshape(Transpose(h, 1, 2), d...)
	}
	if a.Residual {
		h = Add(h, x)
	}
	return h
}
