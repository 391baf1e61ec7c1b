package unet

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// PerBlock is a config value that diffusers accepts either once for every block or as a list with
// one entry per block (attention_head_dim, layers_per_block, cross_attention_dim, ...).
type PerBlock[T any] struct {
	one  *T
	list []T
}

// One returns a PerBlock holding the same value for every block.
func One[T any](v T) PerBlock[T] { return PerBlock[T]{one: &v} }

// List returns a PerBlock with one value per block.
func List[T any](v ...T) PerBlock[T] { return PerBlock[T]{list: v} }

// IsSet reports whether a value (not JSON null) was given.
func (p PerBlock[T]) IsSet() bool { return p.one != nil || p.list != nil }

// UnmarshalJSON accepts null, a single value, or a list of values.
func (p *PerBlock[T]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	*p = PerBlock[T]{}
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	if len(data) > 0 && data[0] == '[' {
		var l []T
		if err := json.Unmarshal(data, &l); err == nil {
			if l == nil {
				l = []T{}
			}
			p.list = l
			return nil
		}
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	p.one = &v
	return nil
}

// MarshalJSON writes the value back in the form it was given.
func (p PerBlock[T]) MarshalJSON() ([]byte, error) {
	switch {
	case p.list != nil:
		return json.Marshal(p.list)
	case p.one != nil:
		return json.Marshal(*p.one)
	}
	return []byte("null"), nil
}

// Expand returns one value per block for n blocks.
func (p PerBlock[T]) Expand(n int) ([]T, error) {
	if p.list != nil {
		if len(p.list) != n {
			return nil, fmt.Errorf("has %d entries, want one per block (%d)", len(p.list), n)
		}
		return p.list, nil
	}
	if p.one == nil {
		return nil, fmt.Errorf("is not set")
	}
	out := make([]T, n)
	for i := range out {
		out[i] = *p.one
	}
	return out, nil
}

// Config is diffusers' UNet2DConditionModel config. Fields that select architectures other than
// Stable Diffusion v1's (class/addition embeddings, dual cross-attention, Fourier time embedding,
// ...) are read only so that Validate can reject them by name.
type Config struct {
	InChannels          int            `json:"in_channels"`
	OutChannels         int            `json:"out_channels"`
	CenterInputSample   bool           `json:"center_input_sample"`
	FlipSinToCos        bool           `json:"flip_sin_to_cos"`
	FreqShift           float64        `json:"freq_shift"`
	DownBlockTypes      []string       `json:"down_block_types"`
	MidBlockType        *string        `json:"mid_block_type"`
	UpBlockTypes        []string       `json:"up_block_types"`
	OnlyCrossAttention  PerBlock[bool] `json:"only_cross_attention"`
	BlockOutChannels    []int          `json:"block_out_channels"`
	LayersPerBlock      PerBlock[int]  `json:"layers_per_block"`
	DownsamplePadding   int            `json:"downsample_padding"`
	MidBlockScaleFactor float64        `json:"mid_block_scale_factor"`
	ActFn               string         `json:"act_fn"`
	NormNumGroups       *int           `json:"norm_num_groups"`
	NormEps             float64        `json:"norm_eps"`
	CrossAttentionDim   PerBlock[int]  `json:"cross_attention_dim"`
	// TransformerLayersPerBlock is an int, one int per block, or (with
	// ReverseTransformerLayersPerBlock) one list per block with an entry per layer.
	TransformerLayersPerBlock        PerBlock[PerBlock[int]] `json:"transformer_layers_per_block"`
	ReverseTransformerLayersPerBlock [][]int                 `json:"reverse_transformer_layers_per_block"`
	// AttentionHeadDim is, for SD v1 configs, the NUMBER of heads (a historical misnomer that
	// diffusers keeps); NumAttentionHeads overrides it when set.
	AttentionHeadDim     PerBlock[int] `json:"attention_head_dim"`
	NumAttentionHeads    PerBlock[int] `json:"num_attention_heads"`
	UseLinearProjection  bool          `json:"use_linear_projection"`
	UpcastAttention      bool          `json:"upcast_attention"` // float32 throughout: no effect
	ResnetTimeScaleShift string        `json:"resnet_time_scale_shift"`
	ResnetSkipTimeAct    bool          `json:"resnet_skip_time_act"`
	ResnetOutScaleFactor float64       `json:"resnet_out_scale_factor"`
	TimeEmbeddingType    string        `json:"time_embedding_type"`
	TimeEmbeddingDim     *int          `json:"time_embedding_dim"`
	TimeEmbeddingActFn   *string       `json:"time_embedding_act_fn"`
	TimestepPostAct      *string       `json:"timestep_post_act"`
	ConvInKernel         int           `json:"conv_in_kernel"`
	ConvOutKernel        int           `json:"conv_out_kernel"`
	AttentionType        string        `json:"attention_type"`
	SampleSize           any           `json:"sample_size"`

	// Unsupported features: must be null/false/default.
	DualCrossAttention   bool    `json:"dual_cross_attention"`
	ClassEmbedType       *string `json:"class_embed_type"`
	NumClassEmbeds       *int    `json:"num_class_embeds"`
	AdditionEmbedType    *string `json:"addition_embed_type"`
	EncoderHidDim        *int    `json:"encoder_hid_dim"`
	EncoderHidDimType    *string `json:"encoder_hid_dim_type"`
	TimeCondProjDim      *int    `json:"time_cond_proj_dim"`
	CrossAttentionNorm   *string `json:"cross_attention_norm"`
	ProjClassEmbInputDim *int    `json:"projection_class_embeddings_input_dim"`
}

// DefaultConfig is UNet2DConditionModel's constructor defaults.
func DefaultConfig() Config {
	mid := "UNetMidBlock2DCrossAttn"
	groups := 32
	return Config{
		InChannels: 4, OutChannels: 4, FlipSinToCos: true,
		DownBlockTypes:     []string{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"},
		MidBlockType:       &mid,
		UpBlockTypes:       []string{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"},
		OnlyCrossAttention: One(false),
		BlockOutChannels:   []int{320, 640, 1280, 1280},
		LayersPerBlock:     One(2), DownsamplePadding: 1, MidBlockScaleFactor: 1,
		ActFn: "silu", NormNumGroups: &groups, NormEps: 1e-5,
		CrossAttentionDim:         One(1280),
		TransformerLayersPerBlock: One(One(1)),
		AttentionHeadDim:          One(8),
		ResnetTimeScaleShift:      "default", ResnetOutScaleFactor: 1,
		TimeEmbeddingType: "positional", ConvInKernel: 3, ConvOutKernel: 3, AttentionType: "default",
	}
}

// SD1Config is Stable Diffusion v1's UNet (860M parameters, 64×64 latents, 768-d text).
func SD1Config() Config {
	c := DefaultConfig()
	c.CrossAttentionDim = One(768)
	c.SampleSize = 64
	return c
}

// LoadConfig reads dir/config.json over the defaults and validates it.
func LoadConfig(dir string) (Config, error) {
	return weights.LoadConfig(dir, "unet", DefaultConfig())
}

// Validate checks that the config describes a model this package builds.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is the config with every per-block value expanded.
type resolved struct {
	n                int
	heads            []int
	layers           []int
	crossDim         []int
	onlyCross        []bool
	tlayersDown      [][]int // per down block, per layer
	tlayersUp        [][]int // per up block, per layer
	tlayersMid       int
	groups           int
	timeDim, tembDim int
}

func (c Config) resolve() (*resolved, error) {
	n := len(c.BlockOutChannels)
	if n == 0 || len(c.DownBlockTypes) != n || len(c.UpBlockTypes) != n {
		return nil, fmt.Errorf("block_out_channels %v, down_block_types %v and up_block_types %v must have the same non-zero length",
			c.BlockOutChannels, c.DownBlockTypes, c.UpBlockTypes)
	}
	unsupported := func(name string, set bool) error {
		if set {
			return fmt.Errorf("%s is not supported (only Stable Diffusion v1 style UNets)", name)
		}
		return nil
	}
	for _, u := range []struct {
		name string
		set  bool
	}{
		{"dual_cross_attention", c.DualCrossAttention},
		{"class_embed_type", c.ClassEmbedType != nil},
		{"num_class_embeds", c.NumClassEmbeds != nil},
		{"addition_embed_type", c.AdditionEmbedType != nil},
		{"encoder_hid_dim", c.EncoderHidDim != nil},
		{"encoder_hid_dim_type", c.EncoderHidDimType != nil},
		{"time_cond_proj_dim", c.TimeCondProjDim != nil},
		{"cross_attention_norm", c.CrossAttentionNorm != nil},
		{"projection_class_embeddings_input_dim", c.ProjClassEmbInputDim != nil},
		{"norm_num_groups null", c.NormNumGroups == nil},
		{"time_embedding_type " + c.TimeEmbeddingType, c.TimeEmbeddingType != "positional"},
		{"attention_type " + c.AttentionType, c.AttentionType != "default"},
		{"resnet_time_scale_shift " + c.ResnetTimeScaleShift, c.ResnetTimeScaleShift != "default" && c.ResnetTimeScaleShift != "scale_shift"},
	} {
		if err := unsupported(u.name, u.set); err != nil {
			return nil, err
		}
	}
	for i, t := range c.DownBlockTypes {
		if t != "CrossAttnDownBlock2D" && t != "DownBlock2D" {
			return nil, fmt.Errorf("down block %d is %q; supported: CrossAttnDownBlock2D, DownBlock2D", i, t)
		}
	}
	for i, t := range c.UpBlockTypes {
		if t != "CrossAttnUpBlock2D" && t != "UpBlock2D" {
			return nil, fmt.Errorf("up block %d is %q; supported: CrossAttnUpBlock2D, UpBlock2D", i, t)
		}
	}
	if c.MidBlockType != nil && *c.MidBlockType != "UNetMidBlock2DCrossAttn" && *c.MidBlockType != "UNetMidBlock2D" {
		return nil, fmt.Errorf("mid_block_type %q; supported: UNetMidBlock2DCrossAttn, UNetMidBlock2D or null", *c.MidBlockType)
	}
	if _, err := nn.Activation(c.ActFn); err != nil {
		return nil, fmt.Errorf("act_fn: %w", err)
	}
	for name, a := range map[string]*string{"time_embedding_act_fn": c.TimeEmbeddingActFn, "timestep_post_act": c.TimestepPostAct} {
		if a != nil {
			if _, err := nn.Activation(*a); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	r := &resolved{n: n, groups: *c.NormNumGroups}
	var err error
	heads := c.NumAttentionHeads
	if !heads.IsSet() {
		heads = c.AttentionHeadDim
	}
	if r.heads, err = heads.Expand(n); err != nil {
		return nil, fmt.Errorf("attention_head_dim/num_attention_heads %w", err)
	}
	if r.layers, err = c.LayersPerBlock.Expand(n); err != nil {
		return nil, fmt.Errorf("layers_per_block %w", err)
	}
	if r.crossDim, err = c.CrossAttentionDim.Expand(n); err != nil {
		return nil, fmt.Errorf("cross_attention_dim %w", err)
	}
	if !c.OnlyCrossAttention.IsSet() {
		c.OnlyCrossAttention = One(false)
	}
	if r.onlyCross, err = c.OnlyCrossAttention.Expand(n); err != nil {
		return nil, fmt.Errorf("only_cross_attention %w", err)
	}
	tl, err := c.TransformerLayersPerBlock.Expand(n)
	if err != nil {
		return nil, fmt.Errorf("transformer_layers_per_block %w", err)
	}
	for i, per := range tl {
		l, err := per.Expand(r.layers[i])
		if err != nil {
			return nil, fmt.Errorf("transformer_layers_per_block[%d] %w", i, err)
		}
		r.tlayersDown = append(r.tlayersDown, l)
	}
	if c.ReverseTransformerLayersPerBlock != nil {
		if len(c.ReverseTransformerLayersPerBlock) != n {
			return nil, fmt.Errorf("reverse_transformer_layers_per_block has %d entries, want %d", len(c.ReverseTransformerLayersPerBlock), n)
		}
		for i, l := range c.ReverseTransformerLayersPerBlock {
			if len(l) != r.layers[n-1-i]+1 {
				return nil, fmt.Errorf("reverse_transformer_layers_per_block[%d] has %d entries, want %d", i, len(l), r.layers[n-1-i]+1)
			}
			r.tlayersUp = append(r.tlayersUp, l)
		}
	} else {
		for i := range n {
			per := tl[n-1-i]
			if per.list != nil {
				return nil, fmt.Errorf("transformer_layers_per_block given per layer needs reverse_transformer_layers_per_block")
			}
			l, _ := per.Expand(r.layers[n-1-i] + 1)
			r.tlayersUp = append(r.tlayersUp, l)
		}
	}
	r.tlayersMid = r.tlayersDown[n-1][0]
	r.timeDim = c.BlockOutChannels[0]
	r.tembDim = 4 * c.BlockOutChannels[0]
	if c.TimeEmbeddingDim != nil {
		r.tembDim = *c.TimeEmbeddingDim
	}
	for i, ch := range c.BlockOutChannels {
		if ch <= 0 || ch%r.groups != 0 {
			return nil, fmt.Errorf("block_out_channels[%d] = %d is not a positive multiple of norm_num_groups %d", i, ch, r.groups)
		}
		cross := c.DownBlockTypes[i] == "CrossAttnDownBlock2D" || c.UpBlockTypes[n-1-i] == "CrossAttnUpBlock2D" ||
			(i == n-1 && c.MidBlockType != nil && *c.MidBlockType == "UNetMidBlock2DCrossAttn")
		if cross && (r.heads[i] <= 0 || ch%r.heads[i] != 0) {
			return nil, fmt.Errorf("block_out_channels[%d] = %d is not divisible by its %d attention heads", i, ch, r.heads[i])
		}
	}
	if c.InChannels <= 0 || c.OutChannels <= 0 || c.ConvInKernel%2 != 1 || c.ConvOutKernel%2 != 1 {
		return nil, fmt.Errorf("in/out channels must be positive and conv kernels odd: %+v", c)
	}
	for i := range n {
		if r.layers[i] <= 0 {
			return nil, fmt.Errorf("layers_per_block[%d] = %d must be positive", i, r.layers[i])
		}
	}
	return r, nil
}
