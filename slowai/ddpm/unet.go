// Package ddpm is lesson 13's denoiser: the small noise-predicting U-Net, its
// training on Fashion-MNIST with the ε-MSE objective through learn.Learner, and sampling.
//
// The network is declared on module.Specs from its Config (UNet), with the names of the PyTorch
// module tree one would write for it ("down.1.res.conv1.weight") and PyTorch's layouts (Conv2d
// [out, in, kh, kw], Linear [out, in]); its weights live in module.Vars, so a checkpoint is a flat
// name → tensor map and loading it is module.LoadFile.
package ddpm

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/blocks"
	"github.com/slowai-go/course/slowai/nn/module"
)

// Config is the U-Net's architecture. DefaultConfig is lesson 13's; smaller ones keep tests fast.
type Config struct {
	InChannels int   `json:"in_channels"` // image channels (1 for Fashion-MNIST)
	Size       int   `json:"size"`        // image side; must be divisible by 2^(len(Channels)-1)
	Channels   []int `json:"channels"`    // channels per resolution level, e.g. [32, 64, 128]
	EmbDim     int   `json:"emb_dim"`     // width of the sinusoidal time embedding and its MLP
	Groups     int   `json:"groups"`      // GroupNorm groups; must divide every channel count
	// SubsampleDown computes each stride-2 downsampling conv as a stride-1 conv followed by keeping
	// every other row and column. The result is identical; it exists because a backend without
	// input-dilated convolutions cannot differentiate a strided conv. It costs 4x the FLOPs of
	// those two convs (a few percent of the network).
	SubsampleDown bool `json:"subsample_down,omitempty"`
	// Schedule is the forward-process variance schedule the model is trained for: "cosine"
	// (Nichol & Dhariwal, the default) or "linear" (Ho et al., β from 1e-4 to 0.02).
	Schedule string `json:"schedule"`
	T        int    `json:"timesteps"` // number of diffusion steps (1000)
}

// DefaultConfig is lesson 13's denoiser: 1→32 channels in, levels (32, 64, 128), 128-wide time
// embedding, GroupNorm(8), on 32x32 images. 1,433,377 parameters.
func DefaultConfig() Config {
	return Config{InChannels: 1, Size: 32, Channels: []int{32, 64, 128}, EmbDim: 128, Groups: 8, Schedule: "cosine", T: 1000}
}

// Validate checks that the sizes fit together.
func (c Config) Validate() error {
	if c.InChannels <= 0 || c.EmbDim <= 0 || c.EmbDim%2 != 0 || c.Groups <= 0 || len(c.Channels) == 0 {
		return fmt.Errorf("ddpm: config %+v: want in_channels > 0, an even emb_dim > 0, groups > 0 and at least one level", c)
	}
	for _, ch := range c.Channels {
		if ch <= 0 || ch%c.Groups != 0 {
			return fmt.Errorf("ddpm: config channels %v: each must be a positive multiple of groups=%d", c.Channels, c.Groups)
		}
	}
	if div := 1 << (len(c.Channels) - 1); c.Size <= 0 || c.Size%div != 0 {
		return fmt.Errorf("ddpm: config size %d must be a positive multiple of %d for %d levels", c.Size, div, len(c.Channels))
	}
	return nil
}

// JSON returns the config as JSON, the form stored in checkpoint metadata.
func (c Config) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Specs lists the parameters of the network in the order UNet declares them.
func (c Config) Specs() []module.Spec { return NewUNet(c).Specs().List() }

// NumParams is the total number of parameter values.
func (c Config) NumParams() int { return int(NewUNet(c).Specs().NumParams()) }

// resOpts configure blocks.ResBlock as this U-Net's block: GroupNorm(Groups, eps 1e-5), SiLU,
// conv3x3, + time projection (of the time MLP's output as is), GroupNorm, SiLU, conv3x3, plus the
// input (through a 1x1 conv when the channel count changes); the projection and the 1x1 conv
// keep this package's names, time_proj and skip.
func (c Config) resOpts() blocks.ResOpts {
	return blocks.ResOpts{SkipTimeAct: true, Groups: c.Groups, Eps: 1e-5,
		Names: blocks.ResNames{TimeProj: "time_proj", Shortcut: "skip"}}
}

// UNet is the denoiser's network declared from a Config: a learn.Model whose inputs are x_t
// [B, InChannels, Size, Size] and the timesteps t [B].
type UNet struct {
	Config       Config
	specs        *module.Specs
	time1, time2 module.Linear
	convIn       module.Conv2D
	down         []blocks.ResBlock
	downsample   []module.Conv2D
	mid          blocks.ResBlock
	up           []blocks.ResBlock
	normOut      module.GroupNorm
	convOut      module.Conv2D
}

// NewUNet declares the network's parameters. The config must be valid (Config.Validate).
func NewUNet(c Config) *UNet {
	s := &module.Specs{}
	same := nn.ConvOpts{Padding: nn.Pair(1)}
	u := &UNet{Config: c, specs: s}
	u.time1 = module.NewLinear(s, "time_mlp.linear1", c.EmbDim, c.EmbDim, true)
	u.time2 = module.NewLinear(s, "time_mlp.linear2", c.EmbDim, c.EmbDim, true)
	u.convIn = module.NewConv2D(s, "conv_in", c.InChannels, c.Channels[0], 3, same)
	ch := c.Channels[0]
	for i, co := range c.Channels {
		u.down = append(u.down, blocks.NewResBlock(s, fmt.Sprintf("down.%d.res", i), ch, co, c.EmbDim, c.resOpts()))
		ch = co
		if i < len(c.Channels)-1 {
			u.downsample = append(u.downsample, module.NewConv2D(s, fmt.Sprintf("down.%d.downsample", i), co, co, 3,
				nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(1)}))
		}
	}
	u.mid = blocks.NewResBlock(s, "mid.res", ch, ch, c.EmbDim, c.resOpts())
	for j := range c.Channels {
		lvl := c.Channels[len(c.Channels)-1-j]
		u.up = append(u.up, blocks.NewResBlock(s, fmt.Sprintf("up.%d.res", j), ch+lvl, lvl, c.EmbDim, c.resOpts()))
		ch = lvl
	}
	u.normOut = module.NewGroupNorm(s, "norm_out", c.Groups, ch, 1e-5)
	u.convOut = module.NewConv2D(s, "conv_out", ch, c.InChannels, 3, same)
	return u
}

// Specs are the network's parameters (learn.Model).
func (u *UNet) Specs() *module.Specs { return u.specs }

// Forward predicts the noise from inputs [x_t, t] (learn.Model).
func (u *UNet) Forward(v module.Vars, inputs []*Node) *Node { return u.Apply(v, inputs[0], inputs[1]) }

// TimestepEmbedding is the sinusoidal embedding of (float) timesteps t [B] → [B, dim]: the first
// half sin(t·f_i), the second half cos(t·f_i), with f_i = exp(-i·ln(10000)/(dim/2)). Nearby
// timesteps get nearby vectors at every scale, which an MLP turns into whatever it needs.
func TimestepEmbedding(t *Node, dim int) *Node {
	half := dim / 2
	freqs := make([]float32, half)
	for i := range freqs {
		freqs[i] = float32(math.Exp(-float64(i) * math.Log(10000) / float64(half)))
	}
	f := Reshape(Const(t.Graph(), freqs), 1, half)
	arg := Mul(Reshape(ConvertDType(t, dtypes.Float32), -1, 1), f)
	return Concatenate([]*Node{Sin(arg), Cos(arg)}, -1)
}

// downsampleApply is the 3x3 stride-2 conv that halves the resolution.
func (u *UNet) downsampleApply(v module.Vars, i int, h *Node) *Node {
	conv := u.downsample[i]
	if !u.Config.SubsampleDown {
		return conv.Apply(v, h)
	}
	conv.Opts.Stride = [2]int{}
	return SubsampleEven(conv.Apply(v, h))
}

// SubsampleEven keeps the even rows and columns of x [B, C, H, W] (H, W even). It is written as a
// reshape and a masked sum, whose gradient is a broadcast, rather than a strided slice, whose
// gradient needs interior padding that not every backend has.
func SubsampleEven(x *Node) *Node {
	d := x.Shape().Dimensions
	y := Reshape(x, d[0], d[1], d[2]/2, 2, d[3]/2, 2)
	mask := make([]float32, 4)
	mask[0] = 1
	m := Reshape(ConvertDType(Const(x.Graph(), mask), x.DType()), 1, 1, 1, 2, 1, 2)
	return ReduceSum(Mul(y, m), 3, 5)
}

// Apply predicts the noise in x [B, InChannels, Size, Size] at timesteps t [B] (float or int).
func (u *UNet) Apply(v module.Vars, x, t *Node) *Node {
	c := u.Config
	emb := TimestepEmbedding(t, c.EmbDim)
	emb = u.time2.Apply(v, nn.SiLU(u.time1.Apply(v, emb)))

	h := u.convIn.Apply(v, x)
	skips := make([]*Node, 0, len(c.Channels))
	for i := range c.Channels {
		h = u.down[i].Apply(v, h, emb)
		skips = append(skips, h)
		if i < len(c.Channels)-1 {
			h = u.downsampleApply(v, i, h)
		}
	}
	h = u.mid.Apply(v, h, emb)
	for j := range c.Channels {
		skip := skips[len(skips)-1-j]
		if h.Shape().Dimensions[2] != skip.Shape().Dimensions[2] {
			h = nn.UpsampleNearest2D(h, skip.Shape().Dimensions[2]/h.Shape().Dimensions[2])
		}
		h = u.up[j].Apply(v, Concatenate([]*Node{h, skip}, 1), emb)
	}
	return u.convOut.Apply(v, nn.SiLU(u.normOut.Apply(v, h)))
}

// FLOPsPerImage is the multiply-add count ×2 of one forward pass (convs and linears only), the
// figure that turns images/s into GFLOP/s. A training step costs about 3x this per image.
func (c Config) FLOPsPerImage() float64 {
	var total float64
	size := c.Size
	conv := func(ci, co, k, s int) { total += 2 * float64(ci*co*k*k*s*s) }
	res := func(ci, co, s int) {
		conv(ci, co, 3, s)
		conv(co, co, 3, s)
		if ci != co {
			conv(ci, co, 1, s)
		}
		total += 2 * float64(c.EmbDim*co)
	}
	total += 2 * 2 * float64(c.EmbDim*c.EmbDim)
	conv(c.InChannels, c.Channels[0], 3, size)
	ch := c.Channels[0]
	for i, co := range c.Channels {
		res(ch, co, size)
		ch = co
		if i < len(c.Channels)-1 {
			size /= 2
			conv(co, co, 3, size)
		}
	}
	res(ch, ch, size)
	for j := range c.Channels {
		lvl := c.Channels[len(c.Channels)-1-j]
		if j > 0 {
			size *= 2
		}
		res(ch+lvl, lvl, size)
		ch = lvl
	}
	conv(ch, c.InChannels, 3, size)
	return total
}
