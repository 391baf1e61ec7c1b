// Package blocks holds the two blocks the course's diffusion models are built from: a ResNet block
// that can take a time embedding, and attention (self or cross, over tokens or over the pixels of
// an image). DDPM's U-Net and Stable Diffusion's U-Net and VAE all use them, so there is one
// implementation of each to read, test and speed up.
//
// Blocks declare their parameters on a *module.Specs under a name prefix, with the names diffusers
// uses in its checkpoints, and read them back from module.Vars while a graph is built.
package blocks

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
)

// ResNames are the checkpoint names of a ResBlock's layers, relative to the block's name. An empty
// field takes diffusers' name (DiffusersResNames), so a model with other names sets only those that
// differ: slowai/ddpm's block is ResNames{TimeProj: "time_proj", Shortcut: "skip"}.
type ResNames struct {
	Norm1, Conv1, TimeProj, Norm2, Conv2, Shortcut string
}

// DiffusersResNames are diffusers' ResnetBlock2D names, the default.
var DiffusersResNames = ResNames{Norm1: "norm1", Conv1: "conv1", TimeProj: "time_emb_proj",
	Norm2: "norm2", Conv2: "conv2", Shortcut: "conv_shortcut"}

func (n ResNames) withDefaults() ResNames {
	d := DiffusersResNames
	for _, f := range []struct {
		field *string
		def   string
	}{
		{&n.Norm1, d.Norm1}, {&n.Conv1, d.Conv1}, {&n.TimeProj, d.TimeProj},
		{&n.Norm2, d.Norm2}, {&n.Conv2, d.Conv2}, {&n.Shortcut, d.Shortcut},
	} {
		if *f.field == "" {
			*f.field = f.def
		}
	}
	return n
}

// ResOpts are a ResBlock's choices. The zero value is diffusers' ResnetBlock2D defaults.
type ResOpts struct {
	// Act is the activation after each norm and, unless SkipTimeAct, on the time embedding.
	// Nil means SiLU.
	Act func(*Node) *Node
	// SkipTimeAct projects the time embedding as given, without Act first. Diffusers applies Act
	// (unless its config sets resnet_skip_time_act); slowai/ddpm's block does not, because its
	// time MLP already ends in a linear layer it wants to use as is.
	SkipTimeAct bool
	// ScaleShift makes the time projection twice as wide, a scale and a shift applied after norm2
	// (h = norm2(h)·(1+scale) + shift), instead of a bias added before norm2.
	ScaleShift bool
	// Groups and Eps configure both GroupNorms; 0 means 32 groups and eps 1e-6.
	Groups int
	Eps    float64
	// OutScale divides the output, (shortcut + residual)/OutScale; 0 means 1.
	OutScale float64
	// Names of the sub-layers; empty fields take diffusers' names.
	Names ResNames
}

// ResBlock is diffusers' ResnetBlock2D without dropout:
//
//	h = conv1(act(norm1(x)))
//	h = h + proj(act(temb))                          (additive, when there is a time embedding)
//	h = conv2(act(norm2(h)))                         (norm2(h)·(1+scale) + shift when ScaleShift)
//	out = (shortcut(x) + h) / OutScale               (shortcut: a 1×1 conv when channels change)
//
// conv1 and conv2 are 3×3 with padding 1, so the spatial size is kept.
type ResBlock struct {
	Name             string
	In, Out, TimeDim int
	Norm1, Norm2     module.GroupNorm
	Conv1, Conv2     module.Conv2D
	TimeProj         *module.Linear // nil without a time embedding
	Shortcut         *module.Conv2D // nil when In == Out
	Opts             ResOpts
}

// NewResBlock declares a block from in to out channels under name ("down.0.res" declares
// "down.0.res.norm1.weight", ...). timeDim is the width of the time embedding Apply receives, 0
// for a block without one (the VAE's).
func NewResBlock(s *module.Specs, name string, in, out, timeDim int, o ResOpts) ResBlock {
	if o.Act == nil {
		o.Act = nn.SiLU
	}
	if o.Groups == 0 {
		o.Groups = 32
	}
	if o.Eps == 0 {
		o.Eps = 1e-6
	}
	if o.OutScale == 0 {
		o.OutScale = 1
	}
	if in%o.Groups != 0 || out%o.Groups != 0 {
		panic(fmt.Sprintf("blocks.NewResBlock %q: channels %d and %d must be multiples of %d groups", name, in, out, o.Groups))
	}
	o.Names = o.Names.withDefaults()
	n := func(sub string) string { return name + "." + sub }
	pad := nn.ConvOpts{Padding: nn.Pair(1)}
	r := ResBlock{Name: name, In: in, Out: out, TimeDim: timeDim, Opts: o}
	r.Norm1 = module.NewGroupNorm(s, n(o.Names.Norm1), o.Groups, in, o.Eps)
	r.Conv1 = module.NewConv2D(s, n(o.Names.Conv1), in, out, 3, pad)
	if timeDim > 0 {
		width := out
		if o.ScaleShift {
			width = 2 * out
		}
		p := module.NewLinear(s, n(o.Names.TimeProj), timeDim, width, true)
		r.TimeProj = &p
	}
	r.Norm2 = module.NewGroupNorm(s, n(o.Names.Norm2), o.Groups, out, o.Eps)
	r.Conv2 = module.NewConv2D(s, n(o.Names.Conv2), out, out, 3, pad)
	if in != out {
		c := module.NewConv2D(s, n(o.Names.Shortcut), in, out, 1, nn.ConvOpts{})
		r.Shortcut = &c
	}
	return r
}

// Apply maps x [B, In, H, W] to [B, Out, H, W]. temb [B, TimeDim] is the time embedding, nil for
// a block declared without one.
func (r ResBlock) Apply(v module.Vars, x, temb *Node) *Node {
	if (temb == nil) != (r.TimeProj == nil) {
		panic(fmt.Sprintf("blocks.ResBlock %q: declared with time embedding width %d, but given one: %v",
			r.Name, r.TimeDim, temb != nil))
	}
	act := r.Opts.Act
	h := r.Conv1.Apply(v, act(r.Norm1.Apply(v, x)))
	if r.TimeProj == nil {
		h = act(r.Norm2.Apply(v, h))
	} else {
		if !r.Opts.SkipTimeAct {
			temb = act(temb)
		}
		t := InsertAxes(r.TimeProj.Apply(v, temb), -1, -1) // [B, C, 1, 1]
		if r.Opts.ScaleShift {
			parts := Split(t, 1, 2)
			h = Add(Mul(r.Norm2.Apply(v, h), OnePlus(parts[0])), parts[1])
		} else {
			h = r.Norm2.Apply(v, Add(h, t))
		}
		h = act(h)
	}
	h = r.Conv2.Apply(v, h)
	if r.Shortcut != nil {
		x = r.Shortcut.Apply(v, x)
	}
	out := Add(x, h)
	if r.Opts.OutScale != 1 {
		out = DivScalar(out, r.Opts.OutScale)
	}
	return out
}
