// Package ddpm is lesson 13's denoiser: the small noise-predicting U-Net, its
// AdamW training on Fashion-MNIST with the ε-MSE objective, checkpoints and sampling.
//
// The network is a plain function from graph nodes to graph nodes (UNet) over a named set of
// parameters (Params). The names follow the PyTorch module tree one would write for it
// ("down.1.res.conv1.weight"), and the weights keep PyTorch's layouts (Conv2d [out, in, kh, kw],
// Linear [out, in]), so a checkpoint is a flat name → tensor map and loading it is a lookup.
package ddpm

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/slowai-go/course/slowai/nn"
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

// ParamSpec names one parameter tensor and its shape.
type ParamSpec struct {
	Name  string
	Shape []int
}

// Size is the number of values in the parameter.
func (p ParamSpec) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// kind tells Init how to initialise a parameter: GroupNorm scales start at 1 and shifts at 0.
func (p ParamSpec) kind() string {
	if len(p.Shape) == 1 && strings.Contains(p.Name, "norm") {
		if strings.HasSuffix(p.Name, ".weight") {
			return "one"
		}
		return "zero"
	}
	return "uniform"
}

// Specs lists the parameters of the network in the order UNet uses them.
func (c Config) Specs() []ParamSpec {
	var s []ParamSpec
	add := func(name string, shape ...int) { s = append(s, ParamSpec{name, shape}) }
	linear := func(name string, in, out int) {
		add(name+".weight", out, in)
		add(name+".bias", out)
	}
	conv := func(name string, in, out, k int) {
		add(name+".weight", out, in, k, k)
		add(name+".bias", out)
	}
	norm := func(name string, ch int) {
		add(name+".weight", ch)
		add(name+".bias", ch)
	}
	res := func(name string, ci, co int) {
		norm(name+".norm1", ci)
		conv(name+".conv1", ci, co, 3)
		linear(name+".time_proj", c.EmbDim, co)
		norm(name+".norm2", co)
		conv(name+".conv2", co, co, 3)
		if ci != co {
			conv(name+".skip", ci, co, 1)
		}
	}
	linear("time_mlp.linear1", c.EmbDim, c.EmbDim)
	linear("time_mlp.linear2", c.EmbDim, c.EmbDim)
	conv("conv_in", c.InChannels, c.Channels[0], 3)
	ch := c.Channels[0]
	for i, co := range c.Channels {
		res(fmt.Sprintf("down.%d.res", i), ch, co)
		ch = co
		if i < len(c.Channels)-1 {
			conv(fmt.Sprintf("down.%d.downsample", i), co, co, 3)
		}
	}
	res("mid.res", ch, ch)
	for j := range c.Channels {
		lvl := c.Channels[len(c.Channels)-1-j]
		res(fmt.Sprintf("up.%d.res", j), ch+lvl, lvl)
		ch = lvl
	}
	norm("norm_out", ch)
	conv("conv_out", ch, c.InChannels, 3)
	return s
}

// NumParams is the total number of parameter values.
func (c Config) NumParams() int {
	n := 0
	for _, p := range c.Specs() {
		n += p.Size()
	}
	return n
}

// Init draws initial weights from seed the way PyTorch initialises its layers by default: conv
// and linear weights and biases uniform in ±1/sqrt(fan_in), GroupNorm scale 1 and shift 0.
// The result is ordered like Specs.
func (c Config) Init(seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0xdd9))
	specs := c.Specs()
	out := make([][]float32, len(specs))
	fanIn := 0
	for i, p := range specs {
		v := make([]float32, p.Size())
		switch p.kind() {
		case "one":
			for j := range v {
				v[j] = 1
			}
		case "zero":
		default:
			if len(p.Shape) > 1 { // a weight: the bias that follows shares its fan-in
				fanIn = p.Size() / p.Shape[0]
			}
			bound := 1 / math.Sqrt(float64(fanIn))
			for j := range v {
				v[j] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		out[i] = v
	}
	return out
}

// Params gives the network its parameter nodes by name. It remembers which were used so that a
// test can check the forward pass touches every parameter exactly as Specs lists them.
type Params struct {
	nodes map[string]*Node
	used  map[string]int
}

// NewParams pairs parameter nodes with the specs they were made from, checking shapes.
func NewParams(specs []ParamSpec, nodes []*Node) *Params {
	if len(specs) != len(nodes) {
		exceptions.Panicf("ddpm: %d parameter nodes for %d specs", len(nodes), len(specs))
	}
	p := &Params{nodes: map[string]*Node{}, used: map[string]int{}}
	for i, s := range specs {
		if got := nodes[i].Shape().Dimensions; !equalInts(got, s.Shape) {
			exceptions.Panicf("ddpm: parameter %q has shape %v, expected %v", s.Name, got, s.Shape)
		}
		p.nodes[s.Name] = nodes[i]
	}
	return p
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Get returns the named parameter; a missing name is a bug in the network code.
func (p *Params) Get(name string) *Node {
	n, ok := p.nodes[name]
	if !ok {
		exceptions.Panicf("ddpm: no parameter %q", name)
	}
	p.used[name]++
	return n
}

// Uses returns how many times each parameter was fetched.
func (p *Params) Uses() map[string]int { return p.used }

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

// resBlock is GroupNorm, SiLU, conv3x3, + time projection, GroupNorm, SiLU, conv3x3, plus the
// input (through a 1x1 conv when the channel count changes).
func (c Config) resBlock(p *Params, name string, h, emb *Node, ci, co int) *Node {
	same := nn.ConvOpts{Padding: nn.Pair(1)}
	r := nn.GroupNorm(h, p.Get(name+".norm1.weight"), p.Get(name+".norm1.bias"), c.Groups, 1e-5)
	r = nn.Conv2D(nn.SiLU(r), p.Get(name+".conv1.weight"), p.Get(name+".conv1.bias"), same)
	tp := nn.Linear(emb, p.Get(name+".time_proj.weight"), p.Get(name+".time_proj.bias"))
	r = Add(r, Reshape(tp, -1, co, 1, 1))
	r = nn.GroupNorm(r, p.Get(name+".norm2.weight"), p.Get(name+".norm2.bias"), c.Groups, 1e-5)
	r = nn.Conv2D(nn.SiLU(r), p.Get(name+".conv2.weight"), p.Get(name+".conv2.bias"), same)
	if ci != co {
		h = nn.Conv2D(h, p.Get(name+".skip.weight"), p.Get(name+".skip.bias"), nn.ConvOpts{})
	}
	return Add(r, h)
}

// downsample is the 3x3 stride-2 conv that halves the resolution.
func (c Config) downsample(p *Params, name string, h *Node) *Node {
	w, b := p.Get(name+".weight"), p.Get(name+".bias")
	if !c.SubsampleDown {
		return nn.Conv2D(h, w, b, nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(1)})
	}
	return SubsampleEven(nn.Conv2D(h, w, b, nn.ConvOpts{Padding: nn.Pair(1)}))
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

// UNet predicts the noise in x [B, InChannels, Size, Size] at timesteps t [B] (float or int).
func (c Config) UNet(p *Params, x, t *Node) *Node {
	emb := TimestepEmbedding(t, c.EmbDim)
	emb = nn.Linear(emb, p.Get("time_mlp.linear1.weight"), p.Get("time_mlp.linear1.bias"))
	emb = nn.Linear(nn.SiLU(emb), p.Get("time_mlp.linear2.weight"), p.Get("time_mlp.linear2.bias"))

	h := nn.Conv2D(x, p.Get("conv_in.weight"), p.Get("conv_in.bias"), nn.ConvOpts{Padding: nn.Pair(1)})
	ch := c.Channels[0]
	skips := make([]*Node, 0, len(c.Channels))
	for i, co := range c.Channels {
		h = c.resBlock(p, fmt.Sprintf("down.%d.res", i), h, emb, ch, co)
		ch = co
		skips = append(skips, h)
		if i < len(c.Channels)-1 {
			h = c.downsample(p, fmt.Sprintf("down.%d.downsample", i), h)
		}
	}
	h = c.resBlock(p, "mid.res", h, emb, ch, ch)
	for j := range c.Channels {
		lvl := c.Channels[len(c.Channels)-1-j]
		skip := skips[len(skips)-1-j]
		if h.Shape().Dimensions[2] != skip.Shape().Dimensions[2] {
			h = nn.UpsampleNearest2D(h, skip.Shape().Dimensions[2]/h.Shape().Dimensions[2])
		}
		h = Concatenate([]*Node{h, skip}, 1)
		h = c.resBlock(p, fmt.Sprintf("up.%d.res", j), h, emb, ch+lvl, lvl)
		ch = lvl
	}
	h = nn.GroupNorm(h, p.Get("norm_out.weight"), p.Get("norm_out.bias"), c.Groups, 1e-5)
	return nn.Conv2D(nn.SiLU(h), p.Get("conv_out.weight"), p.Get("conv_out.bias"), nn.ConvOpts{Padding: nn.Pair(1)})
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
