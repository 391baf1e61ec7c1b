// Package vae is Stable Diffusion's image autoencoder (diffusers' AutoencoderKL): an encoder
// that maps an image to a diagonal Gaussian over latents 2^(levels-1) times smaller, and a decoder
// that maps latents back to pixels. The UNet works entirely in the latent space; the VAE is only
// used at the two ends of the pipeline (and, for loss guidance, differentiated through).
package vae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"regexp"

	"github.com/slowai-go/course/slowai/nn/module"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/blocks"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// Config is diffusers' AutoencoderKL config.
type Config struct {
	InChannels       int      `json:"in_channels"`
	OutChannels      int      `json:"out_channels"`
	DownBlockTypes   []string `json:"down_block_types"`
	UpBlockTypes     []string `json:"up_block_types"`
	BlockOutChannels []int    `json:"block_out_channels"`
	LayersPerBlock   int      `json:"layers_per_block"`
	ActFn            string   `json:"act_fn"`
	LatentChannels   int      `json:"latent_channels"`
	NormNumGroups    int      `json:"norm_num_groups"`
	SampleSize       any      `json:"sample_size"` // an int or [h, w]; informational
	ScalingFactor    float64  `json:"scaling_factor"`
	// Later diffusers versions can drop the mid-block attention or the 1×1 quant convs.
	MidBlockAddAttention bool `json:"mid_block_add_attention"`
	UseQuantConv         bool `json:"use_quant_conv"`
	UsePostQuantConv     bool `json:"use_post_quant_conv"`
}

// DefaultConfig is AutoencoderKL's defaults.
func DefaultConfig() Config {
	return Config{InChannels: 3, OutChannels: 3,
		DownBlockTypes: []string{"DownEncoderBlock2D"}, UpBlockTypes: []string{"UpDecoderBlock2D"},
		BlockOutChannels: []int{64}, LayersPerBlock: 1, ActFn: "silu", LatentChannels: 4,
		NormNumGroups: 32, SampleSize: 32, ScalingFactor: 0.18215,
		MidBlockAddAttention: true, UseQuantConv: true, UsePostQuantConv: true}
}

// SD1Config is Stable Diffusion v1's VAE (8× downsampling, 4 latent channels).
func SD1Config() Config {
	c := DefaultConfig()
	c.BlockOutChannels = []int{128, 256, 512, 512}
	c.DownBlockTypes = []string{"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}
	c.UpBlockTypes = []string{"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}
	c.LayersPerBlock = 2
	c.SampleSize = 512
	return c
}

// LoadConfig reads dir/config.json over the defaults and validates it.
func LoadConfig(dir string) (Config, error) {
	return weights.LoadConfig(dir, "vae", DefaultConfig())
}

// Validate checks that the config describes a model this package builds.
func (c Config) Validate() error {
	n := len(c.BlockOutChannels)
	if n == 0 || len(c.DownBlockTypes) != n || len(c.UpBlockTypes) != n {
		return fmt.Errorf("block_out_channels %v, down_block_types %v and up_block_types %v must have the same non-zero length",
			c.BlockOutChannels, c.DownBlockTypes, c.UpBlockTypes)
	}
	for i := range n {
		if c.DownBlockTypes[i] != "DownEncoderBlock2D" {
			return fmt.Errorf("down block %d is %q; only DownEncoderBlock2D is supported", i, c.DownBlockTypes[i])
		}
		if c.UpBlockTypes[i] != "UpDecoderBlock2D" {
			return fmt.Errorf("up block %d is %q; only UpDecoderBlock2D is supported", i, c.UpBlockTypes[i])
		}
		if c.NormNumGroups <= 0 || c.BlockOutChannels[i]%c.NormNumGroups != 0 {
			return fmt.Errorf("block_out_channels %v not divisible by norm_num_groups %d", c.BlockOutChannels, c.NormNumGroups)
		}
	}
	if c.InChannels <= 0 || c.OutChannels <= 0 || c.LatentChannels <= 0 || c.LayersPerBlock <= 0 {
		return fmt.Errorf("in/out/latent channels and layers_per_block must be positive: %+v", c)
	}
	if _, err := nn.Activation(c.ActFn); err != nil {
		return fmt.Errorf("act_fn: %w", err)
	}
	return nil
}

// Factor is how many pixels one latent spans along each side.
func (c Config) Factor() int { return 1 << (len(c.BlockOutChannels) - 1) }

// eps is the GroupNorm epsilon every VAE norm uses.
const eps = 1e-6

// newResnet declares diffusers' ResnetBlock2D without a time embedding.
func newResnet(s *module.Specs, name string, in, out, groups int, act func(*Node) *Node) blocks.ResBlock {
	return blocks.NewResBlock(s, name, in, out, 0, blocks.ResOpts{Act: act, Groups: groups, Eps: eps})
}

// newAttention declares the mid-block's single-head self-attention over all H·W positions, with a
// GroupNorm before and a residual connection around it. Old checkpoints stored its projections as
// 1×1 convolutions.
func newAttention(s *module.Specs, name string, c, groups int) blocks.Attention {
	return blocks.NewAttention(s, name, c, blocks.AttnOpts{Heads: 1, Bias: true, Conv1x1OK: true,
		NormGroups: groups, NormEps: eps, Residual: true})
}

// midBlock is UNetMidBlock2D without a time embedding: resnet, attention, resnet.
type midBlock struct {
	resnets []blocks.ResBlock
	attn    *blocks.Attention
}

func newMidBlock(s *module.Specs, name string, c, groups int, act func(*Node) *Node, addAttention bool) midBlock {
	m := midBlock{resnets: []blocks.ResBlock{newResnet(s, name+".resnets.0", c, c, groups, act)}}
	if addAttention {
		a := newAttention(s, name+".attentions.0", c, groups)
		m.attn = &a
	}
	m.resnets = append(m.resnets, newResnet(s, name+".resnets.1", c, c, groups, act))
	return m
}

func (m midBlock) apply(v module.Vars, x *Node) *Node {
	x = m.resnets[0].Apply(v, x, nil)
	if m.attn != nil {
		x = m.attn.Apply(v, x, nil)
	}
	return m.resnets[1].Apply(v, x, nil)
}

type level struct {
	resnets []blocks.ResBlock
	resize  *module.Conv2D // downsampler (encoder) or upsampler (decoder) conv
}

// Model is an AutoencoderKL whose parameters live in Vars.
type Model struct {
	Config Config
	Vars   module.Vars
	Specs  *module.Specs

	act              func(*Node) *Node
	encIn, encOut    module.Conv2D
	encDown          []level
	encMid           midBlock
	encNorm          module.GroupNorm
	quant, postQuant *module.Conv2D
	decIn, decOut    module.Conv2D
	decMid           midBlock
	decUp            []level
	decNorm          module.GroupNorm

	backend                compute.Backend
	encodeExec, decodeExec *model.Exec
}

// New builds the module tree for cfg and declares its parameters; it stores no values.
func New(cfg Config, vars module.Vars, be compute.Backend) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	act, _ := nn.Activation(cfg.ActFn)
	s := &module.Specs{}
	m := &Model{Config: cfg, Vars: vars, Specs: s, act: act, backend: be}
	ch, g, n := cfg.BlockOutChannels, cfg.NormNumGroups, len(cfg.BlockOutChannels)
	pad1 := nn.ConvOpts{Padding: nn.Pair(1)}

	m.encIn = module.NewConv2D(s, "encoder.conv_in", cfg.InChannels, ch[0], 3, pad1)
	out := ch[0]
	for i := range n {
		in := out
		out = ch[i]
		var lv level
		for j := range cfg.LayersPerBlock {
			lv.resnets = append(lv.resnets, newResnet(s, fmt.Sprintf("encoder.down_blocks.%d.resnets.%d", i, j), in, out, g, act))
			in = out
		}
		if i < n-1 {
			// Pad one row/column at the bottom/right, then a stride-2 3×3 conv without padding.
			c := module.NewConv2D(s, fmt.Sprintf("encoder.down_blocks.%d.downsamplers.0.conv", i), out, out, 3,
				nn.ConvOpts{Stride: nn.Pair(2), PadHW: [2][2]int{{0, 1}, {0, 1}}})
			lv.resize = &c
		}
		m.encDown = append(m.encDown, lv)
	}
	top := ch[n-1]
	m.encMid = newMidBlock(s, "encoder.mid_block", top, g, act, cfg.MidBlockAddAttention)
	m.encNorm = module.NewGroupNorm(s, "encoder.conv_norm_out", g, top, eps)
	m.encOut = module.NewConv2D(s, "encoder.conv_out", top, 2*cfg.LatentChannels, 3, pad1)
	if cfg.UseQuantConv {
		c := module.NewConv2D(s, "quant_conv", 2*cfg.LatentChannels, 2*cfg.LatentChannels, 1, nn.ConvOpts{})
		m.quant = &c
	}
	if cfg.UsePostQuantConv {
		c := module.NewConv2D(s, "post_quant_conv", cfg.LatentChannels, cfg.LatentChannels, 1, nn.ConvOpts{})
		m.postQuant = &c
	}

	m.decIn = module.NewConv2D(s, "decoder.conv_in", cfg.LatentChannels, top, 3, pad1)
	m.decMid = newMidBlock(s, "decoder.mid_block", top, g, act, cfg.MidBlockAddAttention)
	out = top
	for i := range n {
		in := out
		out = ch[n-1-i]
		var lv level
		for j := range cfg.LayersPerBlock + 1 {
			lv.resnets = append(lv.resnets, newResnet(s, fmt.Sprintf("decoder.up_blocks.%d.resnets.%d", i, j), in, out, g, act))
			in = out
		}
		if i < n-1 {
			c := module.NewConv2D(s, fmt.Sprintf("decoder.up_blocks.%d.upsamplers.0.conv", i), out, out, 3, pad1)
			lv.resize = &c
		}
		m.decUp = append(m.decUp, lv)
	}
	m.decNorm = module.NewGroupNorm(s, "decoder.conv_norm_out", g, ch[0], eps)
	m.decOut = module.NewConv2D(s, "decoder.conv_out", ch[0], cfg.OutChannels, 3, pad1)
	return m, nil
}

// legacyName matches the attention names diffusers used before 0.14 (and original SD exports):
// query/key/value/proj_attn for today's to_q/to_k/to_v/to_out.0.
var legacyName = regexp.MustCompile(`^(.*\.attentions\.\d+\.)(query|key|value|proj_attn)(\.(?:weight|bias))$`)

var legacyMap = map[string]string{"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}

var loadOptions = module.Options{
	Rename: func(stored string) string {
		if m := legacyName.FindStringSubmatch(stored); m != nil {
			return m[1] + legacyMap[m[2]] + m[3]
		}
		return stored
	},
}

// Load builds the model described by dir/config.json and loads its checkpoint into a fresh store
// under "/vae".
func Load(dir string, be compute.Backend) (*Model, error) {
	return weights.LoadDir(dir, "/vae", be, LoadConfig, New)
}

// LoadWeights checks and loads a checkpoint file (current or legacy attention names) into Vars.
func (m *Model) LoadWeights(path string) error {
	return module.LoadFile(m.Vars, path, m.Specs, loadOptions)
}

// NewRandom builds a model from cfg with seeded random parameters, for benchmarks.
func NewRandom(cfg Config, be compute.Backend, seed uint64) (*Model, error) {
	return weights.NewRandom(cfg, "/vae", be, seed, New)
}

// Params returns where the parameters live and what they are (for the weights helpers).
func (m *Model) Params() (module.Vars, *module.Specs) { return m.Vars, m.Specs }

func (m *Model) encoder(x *Node, t weights.Taps) *Node {
	v := m.Vars
	x = m.encIn.Apply(v, x)
	for _, lv := range m.encDown {
		for _, r := range lv.resnets {
			x = r.Apply(v, x, nil)
		}
		if lv.resize != nil {
			x = lv.resize.Apply(v, x)
		}
	}
	x = m.encMid.apply(v, x)
	t.Put("encoder.mid_block", x)
	x = m.encOut.Apply(v, m.act(m.encNorm.Apply(v, x)))
	t.Put("encoder_out", x)
	return x
}

func (m *Model) decoder(z *Node, t weights.Taps) *Node {
	v := m.Vars
	x := m.decIn.Apply(v, z)
	t.Put("decoder.conv_in", x)
	x = m.decMid.apply(v, x)
	t.Put("decoder.mid_block", x)
	for _, lv := range m.decUp {
		for _, r := range lv.resnets {
			x = r.Apply(v, x, nil)
		}
		if lv.resize != nil {
			x = lv.resize.Apply(v, nn.UpsampleNearest2D(x, 2))
		}
	}
	return m.decOut.Apply(v, m.act(m.decNorm.Apply(v, x)))
}

func (m *Model) checkInput(what string, x *Node, channels int) {
	d := x.Shape().Dimensions
	f := m.Config.Factor()
	if x.Rank() != 4 || d[1] != channels || (what == "image" && (d[2]%f != 0 || d[3]%f != 0)) {
		panic(fmt.Sprintf("vae: %s must be [B, %d, H, W] (H, W multiples of %d for images), got %s", what, channels, f, x.Shape()))
	}
}

// MomentsGraph is quant_conv(encoder(image)) for image [B, in_channels, H, W] in [-1, 1]:
// [B, 2·latent_channels, H/f, W/f], the posterior's mean and log-variance stacked on the channels.
func (m *Model) MomentsGraph(image *Node) *Node {
	m.checkInput("image", image, m.Config.InChannels)
	return m.moments(image, nil)
}

func (m *Model) moments(image *Node, t weights.Taps) *Node {
	x := m.encoder(image, t)
	if m.quant != nil {
		x = m.quant.Apply(m.Vars, x)
	}
	return x
}

// posterior splits moments into mean and log-variance clamped to [-30, 20], as diffusers'
// DiagonalGaussianDistribution does.
func posterior(moments *Node) (mean, logvar *Node) {
	parts := Split(moments, 1, 2)
	return parts[0], MinScalar(MaxScalar(parts[1], -30.0), 20.0)
}

// EncodeGraph returns the posterior mean and clamped log-variance of image's latents. The graph
// must be built by a model.Exec (any store).
func (m *Model) EncodeGraph(image *Node) (mean, logvar *Node) {
	return posterior(m.MomentsGraph(image))
}

// DecodeGraph is decoder(post_quant_conv(latents)) for latents [B, latent_channels, h, w]; no
// scaling factor is applied (divide SD latents by Config.ScalingFactor first). It is
// differentiable with respect to latents.
func (m *Model) DecodeGraph(latents *Node) *Node {
	m.checkInput("latents", latents, m.Config.LatentChannels)
	return m.decode(latents, nil)
}

func (m *Model) decode(z *Node, t weights.Taps) *Node {
	if m.postQuant != nil {
		z = m.postQuant.Apply(m.Vars, z)
	}
	return m.decoder(z, t)
}

// SampleGraph draws a latent from the posterior given standard normal noise of mean's shape:
// mean + exp(logvar/2)·noise.
func SampleGraph(mean, logvar, noise *Node) *Node {
	return Add(mean, Mul(Exp(MulScalar(logvar, 0.5)), noise))
}

// Encode returns the posterior mean and clamped log-variance for image [B, C, H, W] (values in
// [-1, 1]).
func (m *Model) Encode(image *tensors.Tensor) (mean, logvar *tensors.Tensor, err error) {
	if m.encodeExec == nil {
		m.encodeExec, err = model.NewExec(m.backend, m.Vars.Store, func(_ *model.Scope, x *Node) (*Node, *Node) {
			return m.EncodeGraph(x)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	outs, err := run(m.encodeExec, image)
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// Decode maps latents [B, latent_channels, h, w] to an image [B, out_channels, h·f, w·f]
// (roughly in [-1, 1]).
func (m *Model) Decode(latents *tensors.Tensor) (*tensors.Tensor, error) {
	if m.decodeExec == nil {
		var err error
		m.decodeExec, err = model.NewExec(m.backend, m.Vars.Store, func(_ *model.Scope, z *Node) *Node {
			return m.DecodeGraph(z)
		})
		if err != nil {
			return nil, err
		}
	}
	outs, err := run(m.decodeExec, latents)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// Release frees the compiled encoder and decoder graphs and the working memory the engine keeps
// for them; the next Encode or Decode compiles again. The weights stay.
func (m *Model) Release() { weights.ReleaseExecs(&m.encodeExec, &m.decodeExec) }

// run executes e, turning graph-building panics (bad input shapes) into errors.
func run(e *model.Exec, args ...any) (outs []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("vae: %v", r)
		}
	}()
	outs, err = e.Exec(args...)
	if err != nil {
		err = fmt.Errorf("vae: %w", err)
	}
	return outs, err
}

// Sample draws mean + exp(logvar/2)·ε on the host with ε ~ N(0, 1) from a PCG generator seeded
// by seed, so a seed always gives the same latents.
func Sample(mean, logvar *tensors.Tensor, seed uint64) (*tensors.Tensor, error) {
	if !mean.Shape().Equal(logvar.Shape()) {
		return nil, fmt.Errorf("vae.Sample: mean %s and logvar %s differ in shape", mean.Shape(), logvar.Shape())
	}
	mu, dims := weights.Float32s(mean)
	lv, _ := weights.Float32s(logvar)
	rng := rand.New(rand.NewPCG(seed, 0x5ea1ed))
	out := make([]float32, len(mu))
	for i := range out {
		out[i] = mu[i] + float32(math.Exp(0.5*float64(lv[i]))*rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(out, dims...), nil
}

// CheckGolden loads the model in dir and compares, with tolerance 1e-3, every output and debug
// tensor of dir/io.safetensors: the posterior of "image", decode("latents") and the
// reconstruction decode(posterior mean). One graph computes them all.
func CheckGolden(dir string, be compute.Backend, report weights.ReportFunc) error {
	m, err := Load(dir, be)
	if err != nil {
		return err
	}
	gold, err := weights.OpenGolden(filepath.Join(dir, "io.safetensors"), report)
	if err != nil {
		return err
	}
	image, err := gold.Tensor("image")
	if err != nil {
		gold.Close()
		return err
	}
	latents, err := gold.Tensor("latents")
	if err != nil {
		gold.Close()
		return err
	}
	var names []string
	outs, err := model.ExecOnceN(be, m.Vars.Store, func(_ *model.Scope, image, latents *Node) []*Node {
		t := weights.Taps{}
		moments := m.moments(image, t)
		mean, logvar := posterior(moments)
		dt := weights.Taps{}
		decoded := m.decode(latents, dt)
		res := []*Node{moments, mean, logvar, Exp(MulScalar(logvar, 0.5)), decoded, m.decode(mean, nil)}
		names = []string{"posterior_moments", "posterior_mean", "posterior_logvar", "posterior_std", "decoded", "reconstruction"}
		for _, k := range []string{"encoder_out", "encoder.mid_block"} {
			names, res = append(names, "debug."+k), append(res, t[k])
		}
		for _, k := range []string{"decoder.conv_in", "decoder.mid_block"} {
			names, res = append(names, "debug."+k), append(res, dt[k])
		}
		return res
	}, image, latents)
	if err != nil {
		gold.Close()
		return fmt.Errorf("vae: %w", err)
	}
	gold.CompareFound(names, outs, 1e-3)
	return gold.Close()
}
