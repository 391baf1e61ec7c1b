// Package unet is Stable Diffusion v1's noise predictor (diffusers' UNet2DConditionModel with
// the SD v1 block types): given noisy latents, a timestep and the text encoder's hidden states it
// predicts the noise. Resolution goes down through ResNet blocks (some with cross-attention
// transformers that read the text), through a middle block, and back up, each up block
// concatenating the activations the matching down block left behind (skip connections).
package unet

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/slowai-go/course/slowai/nn/module"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/blocks"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// newResnet declares diffusers' ResnetBlock2D as the config asks for it.
func (u *Model) newResnet(name string, in, out int, outScale float64) blocks.ResBlock {
	c := u.Config
	return blocks.NewResBlock(u.Specs, name, in, out, u.res.tembDim, blocks.ResOpts{
		Act:         u.act,
		SkipTimeAct: c.ResnetSkipTimeAct,
		ScaleShift:  c.ResnetTimeScaleShift == "scale_shift",
		Groups:      u.res.groups,
		Eps:         c.NormEps,
		OutScale:    outScale,
	})
}

// newAttention declares one of a transformer block's attentions: heads over dim channels, keys and
// values from kvDim-wide tokens, bias-free q/k/v projections.
func newAttention(s *module.Specs, name string, dim, kvDim, heads int) blocks.Attention {
	return blocks.NewAttention(s, name, dim, blocks.AttnOpts{Heads: heads, ContextDim: kvDim})
}

// block is diffusers' BasicTransformerBlock with LayerNorms: self-attention, cross-attention to
// the text, and a GEGLU feed-forward, each pre-normed and residual.
type block struct {
	norm1, norm2, norm3 module.LayerNorm
	attn1, attn2        blocks.Attention
	ffIn, ffOut         module.Linear
	onlyCross           bool
}

// transformer is diffusers' Transformer2DModel on continuous input: GroupNorm, project to tokens
// (1×1 conv or Linear), transformer blocks over the H·W tokens, project back, add the input.
type transformer struct {
	norm    module.GroupNorm
	linear  bool
	inConv  module.Conv2D
	outConv module.Conv2D
	inLin   module.Linear
	outLin  module.Linear
	blocks  []block
}

func (u *Model) newTransformer(name string, channels, heads, crossDim, layers int, onlyCross bool) *transformer {
	s := u.Specs
	t := &transformer{norm: module.NewGroupNorm(s, name+".norm", u.res.groups, channels, 1e-6), linear: u.Config.UseLinearProjection}
	if t.linear {
		t.inLin = module.NewLinear(s, name+".proj_in", channels, channels, true)
	} else {
		t.inConv = module.NewConv2D(s, name+".proj_in", channels, channels, 1, nn.ConvOpts{})
	}
	for l := range layers {
		n := fmt.Sprintf("%s.transformer_blocks.%d", name, l)
		selfKV := channels
		if onlyCross {
			selfKV = crossDim
		}
		t.blocks = append(t.blocks, block{
			norm1:     module.NewLayerNorm(s, n+".norm1", channels, 1e-5),
			attn1:     newAttention(s, n+".attn1", channels, selfKV, heads),
			norm2:     module.NewLayerNorm(s, n+".norm2", channels, 1e-5),
			attn2:     newAttention(s, n+".attn2", channels, crossDim, heads),
			norm3:     module.NewLayerNorm(s, n+".norm3", channels, 1e-5),
			ffIn:      module.NewLinear(s, n+".ff.net.0.proj", channels, 2*4*channels, true),
			ffOut:     module.NewLinear(s, n+".ff.net.2", 4*channels, channels, true),
			onlyCross: onlyCross,
		})
	}
	if t.linear {
		t.outLin = module.NewLinear(s, name+".proj_out", channels, channels, true)
	} else {
		t.outConv = module.NewConv2D(s, name+".proj_out", channels, channels, 1, nn.ConvOpts{})
	}
	return t
}

func (t *transformer) apply(v module.Vars, x, context *Node) *Node {
	d := x.Shape().Dimensions
	b, c, hw := d[0], d[1], d[2]*d[3]
	h := t.norm.Apply(v, x)
	toTokens := func(h *Node) *Node { return Transpose(Reshape(h, b, c, hw), 1, 2) } // [B, HW, C]
	if t.linear {
		h = t.inLin.Apply(v, toTokens(h))
	} else {
		h = toTokens(t.inConv.Apply(v, h))
	}
	for _, blk := range t.blocks {
		var selfKV *Node // nil: attend to the normed tokens themselves
		if blk.onlyCross {
			selfKV = context
		}
		h = Add(h, blk.attn1.Apply(v, blk.norm1.Apply(v, h), selfKV))
		h = Add(h, blk.attn2.Apply(v, blk.norm2.Apply(v, h), context))
		h = Add(h, blk.ffOut.Apply(v, nn.GEGLUGate(blk.ffIn.Apply(v, blk.norm3.Apply(v, h)))))
	}
	fromTokens := func(h *Node) *Node { return Reshape(Transpose(h, 1, 2), d...) }
	if t.linear {
		h = fromTokens(t.outLin.Apply(v, h))
	} else {
		h = t.outConv.Apply(v, fromTokens(h))
	}
	return Add(h, x)
}

// stage is a down, mid or up block: resnets, each optionally followed by a transformer, and an
// optional resampling conv.
type stage struct {
	resnets []blocks.ResBlock
	attns   []*transformer // nil entries for blocks without attention
	resize  *module.Conv2D
}

// Model is a UNet2DConditionModel whose parameters live in Vars.
type Model struct {
	Config Config
	Vars   module.Vars
	Specs  *module.Specs

	res              *resolved
	act              func(*Node) *Node
	timeAct, postAct func(*Node) *Node
	freqs            []float32
	lin1, lin2       module.Linear
	convIn, convOut  module.Conv2D
	down             []stage
	mid              *stage
	up               []stage
	normOut          module.GroupNorm

	backend compute.Backend
	exec    *model.Exec
}

// New builds the module tree for cfg and declares its parameters; it stores no values.
func New(cfg Config, vars module.Vars, be compute.Backend) (*Model, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, fmt.Errorf("unet: %w", err)
	}
	u := &Model{Config: cfg, Vars: vars, Specs: &module.Specs{}, res: r, backend: be}
	u.act, _ = nn.Activation(cfg.ActFn)
	if cfg.TimeEmbeddingActFn != nil {
		u.timeAct, _ = nn.Activation(*cfg.TimeEmbeddingActFn)
	}
	if cfg.TimestepPostAct != nil {
		u.postAct, _ = nn.Activation(*cfg.TimestepPostAct)
	}
	s, ch, n := u.Specs, cfg.BlockOutChannels, r.n
	u.freqs = frequencies(r.timeDim, cfg.FreqShift)

	u.convIn = module.NewConv2D(s, "conv_in", cfg.InChannels, ch[0], cfg.ConvInKernel, nn.ConvOpts{Padding: nn.Pair((cfg.ConvInKernel - 1) / 2)})
	u.lin1 = module.NewLinear(s, "time_embedding.linear_1", r.timeDim, r.tembDim, true)
	u.lin2 = module.NewLinear(s, "time_embedding.linear_2", r.tembDim, r.tembDim, true)

	out := ch[0]
	for i := range n {
		in := out
		out = ch[i]
		name := fmt.Sprintf("down_blocks.%d", i)
		var st stage
		for j := range r.layers[i] {
			st.resnets = append(st.resnets, u.newResnet(fmt.Sprintf("%s.resnets.%d", name, j), in, out, cfg.ResnetOutScaleFactor))
			var t *transformer
			if cfg.DownBlockTypes[i] == "CrossAttnDownBlock2D" {
				t = u.newTransformer(fmt.Sprintf("%s.attentions.%d", name, j), out, r.heads[i], r.crossDim[i], r.tlayersDown[i][j], r.onlyCross[i])
			}
			st.attns = append(st.attns, t)
			in = out
		}
		if i < n-1 {
			opts := nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(cfg.DownsamplePadding)}
			if cfg.DownsamplePadding == 0 {
				opts.PadHW = [2][2]int{{0, 1}, {0, 1}}
			}
			c := module.NewConv2D(s, name+".downsamplers.0.conv", out, out, 3, opts)
			st.resize = &c
		}
		u.down = append(u.down, st)
	}

	top := ch[n-1]
	if cfg.MidBlockType != nil {
		st := stage{resnets: []blocks.ResBlock{u.newResnet("mid_block.resnets.0", top, top, cfg.MidBlockScaleFactor)}}
		if *cfg.MidBlockType == "UNetMidBlock2DCrossAttn" {
			st.attns = []*transformer{u.newTransformer("mid_block.attentions.0", top, r.heads[n-1], r.crossDim[n-1], r.tlayersMid, false)}
			st.resnets = append(st.resnets, u.newResnet("mid_block.resnets.1", top, top, cfg.MidBlockScaleFactor))
		}
		u.mid = &st
	}

	out = ch[n-1]
	for i := range n {
		prev := out
		out = ch[n-1-i]
		skipIn := ch[max(n-2-i, 0)] // the channels of the down block below this level
		name := fmt.Sprintf("up_blocks.%d", i)
		var st stage
		nl := r.layers[n-1-i] + 1
		for j := range nl {
			skip := out
			if j == nl-1 {
				skip = skipIn
			}
			resIn := out
			if j == 0 {
				resIn = prev
			}
			st.resnets = append(st.resnets, u.newResnet(fmt.Sprintf("%s.resnets.%d", name, j), resIn+skip, out, cfg.ResnetOutScaleFactor))
			var t *transformer
			if cfg.UpBlockTypes[i] == "CrossAttnUpBlock2D" {
				t = u.newTransformer(fmt.Sprintf("%s.attentions.%d", name, j), out, r.heads[n-1-i], r.crossDim[n-1-i], r.tlayersUp[i][j], r.onlyCross[n-1-i])
			}
			st.attns = append(st.attns, t)
		}
		if i < n-1 {
			c := module.NewConv2D(s, name+".upsamplers.0.conv", out, out, 3, nn.ConvOpts{Padding: nn.Pair(1)})
			st.resize = &c
		}
		u.up = append(u.up, st)
	}
	u.normOut = module.NewGroupNorm(s, "conv_norm_out", r.groups, ch[0], cfg.NormEps)
	u.convOut = module.NewConv2D(s, "conv_out", ch[0], cfg.OutChannels, cfg.ConvOutKernel, nn.ConvOpts{Padding: nn.Pair((cfg.ConvOutKernel - 1) / 2)})
	return u, nil
}

// frequencies are the sinusoidal embedding's angular rates exp(-ln(10000)·k/(half - shift)),
// computed in float32 step by step as diffusers' get_timestep_embedding does.
func frequencies(dim int, shift float64) []float32 {
	half := dim / 2
	f := make([]float32, half)
	for k := range f {
		e := float32(-math.Log(10000)) * float32(k)
		e /= float32(float64(half) - shift)
		f[k] = float32(math.Exp(float64(e)))
	}
	return f
}

// Load builds the model described by dir/config.json and loads its checkpoint into a fresh store
// under "/unet".
func Load(dir string, be compute.Backend) (*Model, error) {
	return weights.LoadDir(dir, "/unet", be, LoadConfig, New)
}

// LoadWeights checks and loads a checkpoint file into the model's Vars.
func (u *Model) LoadWeights(path string) error {
	return module.LoadFile(u.Vars, path, u.Specs, module.Options{})
}

// NewRandom builds a model from cfg with seeded random parameters, for benchmarks.
func NewRandom(cfg Config, be compute.Backend, seed uint64) (*Model, error) {
	return weights.NewRandom(cfg, "/unet", be, seed, New)
}

// Params returns where the parameters live and what they are (for the weights helpers).
func (u *Model) Params() (module.Vars, *module.Specs) { return u.Vars, u.Specs }

// TimestepEmbedding is the sinusoidal embedding of t (float32 [B]): [cos, sin] halves when
// flip_sin_to_cos (SD), else [sin, cos]; a zero column is appended for an odd width.
func (u *Model) TimestepEmbedding(t *Node) *Node {
	g := t.Graph()
	freqs := Const(g, tensors.FromFlatDataAndDimensions(u.freqs, 1, len(u.freqs)))
	arg := Mul(InsertAxes(t, -1), freqs)
	sin, cos := Sin(arg), Cos(arg)
	emb := Concatenate([]*Node{sin, cos}, 1)
	if u.Config.FlipSinToCos {
		emb = Concatenate([]*Node{cos, sin}, 1)
	}
	if u.res.timeDim%2 == 1 {
		emb = Concatenate([]*Node{emb, Zeros(g, shapes.Make(emb.DType(), t.Shape().Dimensions[0], 1))}, 1)
	}
	return emb
}

// Forward predicts the noise in sample [B, in_channels, H, W] at timestep t — an integer or
// float scalar for the whole batch, or one per item ([B]) — given context [B, T, cross_dim] (the
// text encoder's last hidden state). The graph must be built by a model.Exec (any store); it is
// differentiable with respect to sample and context.
func (u *Model) Forward(sample, t, context *Node) *Node {
	return u.forward(sample, t, context, nil)
}

func (u *Model) forward(sample, t, context *Node, tp weights.Taps) *Node {
	v, cfg := u.Vars, u.Config
	d := sample.Shape().Dimensions
	if sample.Rank() != 4 || d[1] != cfg.InChannels {
		panic(fmt.Sprintf("unet: sample must be [B, %d, H, W], got %s", cfg.InChannels, sample.Shape()))
	}
	b := d[0]
	if context.Rank() != 3 || context.Shape().Dimensions[0] != b {
		panic(fmt.Sprintf("unet: context must be [%d, T, dim], got %s", b, context.Shape()))
	}
	switch {
	case t.Rank() == 0:
		t = BroadcastToDims(t, b)
	case t.Rank() == 1 && t.Shape().Dimensions[0] == 1:
		t = BroadcastToDims(Reshape(t), b)
	case t.Rank() == 1 && t.Shape().Dimensions[0] == b:
	default:
		panic(fmt.Sprintf("unet: timestep must be a scalar or [%d], got %s", b, t.Shape()))
	}
	t = ConvertDType(t, dtypes.Float32)

	tEmb := u.TimestepEmbedding(t)
	tp.Put("time_proj", tEmb)
	emb := u.lin2.Apply(v, u.act(u.lin1.Apply(v, tEmb)))
	if u.postAct != nil {
		emb = u.postAct(emb)
	}
	tp.Put("time_embedding", emb)
	if u.timeAct != nil {
		emb = u.timeAct(emb)
	}

	x := sample
	if cfg.CenterInputSample {
		x = AddScalar(MulScalar(x, 2), -1)
	}
	x = u.convIn.Apply(v, x)
	tp.Put("conv_in", x)
	skips := []*Node{x}
	for i, st := range u.down {
		for j, rn := range st.resnets {
			x = rn.Apply(v, x, emb)
			if st.attns[j] != nil {
				x = st.attns[j].apply(v, x, context)
			}
			skips = append(skips, x)
		}
		if st.resize != nil {
			x = st.resize.Apply(v, x)
			skips = append(skips, x)
		}
		tp.Put(fmt.Sprintf("down_blocks.%d", i), x)
	}
	if u.mid != nil {
		x = u.mid.resnets[0].Apply(v, x, emb)
		for j, tr := range u.mid.attns {
			x = tr.apply(v, x, context)
			x = u.mid.resnets[j+1].Apply(v, x, emb)
		}
		tp.Put("mid_block", x)
	}
	for i, st := range u.up {
		for j, rn := range st.resnets {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			x = rn.Apply(v, Concatenate([]*Node{x, skip}, 1), emb)
			if st.attns[j] != nil {
				x = st.attns[j].apply(v, x, context)
			}
		}
		if st.resize != nil {
			// Upsample to the size of the skip waiting below (2× unless the input size was not
			// a multiple of 2^levels), then a 3×3 conv.
			sd := skips[len(skips)-1].Shape().Dimensions
			x = st.resize.Apply(v, resizeNearest(x, sd[2], sd[3]))
		}
		tp.Put(fmt.Sprintf("up_blocks.%d", i), x)
	}
	x = u.normOut.Apply(v, x)
	tp.Put("conv_norm_out", x)
	return u.convOut.Apply(v, u.act(x))
}

// resizeNearest is F.interpolate(x, size=(h, w), mode="nearest"): output pixel i reads input
// pixel floor(i·in/out). The exact 2× case is a broadcast; others use one-hot selection matrices.
func resizeNearest(x *Node, h, w int) *Node {
	d := x.Shape().Dimensions
	if h == 2*d[2] && w == 2*d[3] {
		return nn.UpsampleNearest2D(x, 2)
	}
	sel := func(in, out int) *Node {
		m := make([]float32, out*in)
		scale := float32(in) / float32(out)
		for i := range out {
			src := min(int(math.Floor(float64(float32(i)*scale))), in-1)
			m[i*in+src] = 1
		}
		return ConvertDType(Const(x.Graph(), tensors.FromFlatDataAndDimensions(m, out, in)), x.DType())
	}
	y := DotGeneral(x, []int{3}, nil, sel(d[3], w), []int{1}, nil) // [B, C, H, w]
	y = DotGeneral(y, []int{2}, nil, sel(d[2], h), []int{1}, nil)  // [B, C, w, h]
	return Transpose(y, 2, 3)
}

// Predict runs Forward on host tensors: sample float32 [B, C, H, W], t an int64/float32 scalar
// or [B], context float32 [B, T, dim]. One graph is compiled per distinct set of input shapes and
// dtypes.
func (u *Model) Predict(sample, t, context *tensors.Tensor) (out *tensors.Tensor, err error) {
	if u.exec == nil {
		u.exec, err = model.NewExec(u.backend, u.Vars.Store, func(_ *model.Scope, x, t, c *Node) *Node {
			return u.Forward(x, t, c)
		})
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unet: %v", r)
		}
	}()
	outs, err := u.exec.Exec(sample, t, context)
	if err != nil {
		return nil, fmt.Errorf("unet: %w", err)
	}
	return outs[0], nil
}

// Release frees the compiled graph and the working memory the engine keeps for it (for SD's UNet
// at 512×512, about 3.5 GB in ONNX Runtime); the next Predict compiles again. The weights stay.
func (u *Model) Release() { weights.ReleaseExecs(&u.exec) }

// CheckGolden loads the model in dir and compares, with tolerance 1e-3, dir/io.safetensors'
// out_sample (per-item int64 timesteps), out_sample_scalar_timestep (a float32 scalar timestep)
// and every debug tensor. One graph computes them all.
func CheckGolden(dir string, be compute.Backend, report weights.ReportFunc) error {
	u, err := Load(dir, be)
	if err != nil {
		return err
	}
	gold, err := weights.OpenGolden(filepath.Join(dir, "io.safetensors"), report)
	if err != nil {
		return err
	}
	inputs := []string{"sample", "timesteps", "encoder_hidden_states"}
	scalar := gold.Has("timestep_scalar") // optional second run with a float scalar timestep
	if scalar {
		inputs = append(inputs, "timestep_scalar")
	}
	var in []any
	for _, name := range inputs {
		t, err := gold.Tensor(name)
		if err != nil {
			gold.Close()
			return err
		}
		in = append(in, t)
	}
	var names []string
	outs, err := model.ExecOnceN(be, u.Vars.Store, func(_ *model.Scope, in []*Node) []*Node {
		tp := weights.Taps{}
		res := []*Node{u.forward(in[0], in[1], in[2], tp)}
		names = []string{"out_sample"}
		if scalar {
			res, names = append(res, u.Forward(in[0], in[3], in[2])), append(names, "out_sample_scalar_timestep")
		}
		for _, k := range debugNames(len(u.down)) {
			if n, ok := tp[k]; ok {
				names, res = append(names, "debug."+k), append(res, n)
			}
		}
		return res
	}, in...)
	if err != nil {
		gold.Close()
		return fmt.Errorf("unet: %w", err)
	}
	gold.CompareFound(names, outs, 1e-3)
	return gold.Close()
}

func debugNames(levels int) []string {
	names := []string{"time_proj", "time_embedding", "conv_in"}
	for i := range levels {
		names = append(names, fmt.Sprintf("down_blocks.%d", i))
	}
	names = append(names, "mid_block")
	for i := range levels {
		names = append(names, fmt.Sprintf("up_blocks.%d", i))
	}
	return append(names, "conv_norm_out")
}
