// Package clip is the CLIP text encoder Stable Diffusion conditions on (transformers'
// CLIPTextModel): token + position embeddings, a stack of pre-LayerNorm transformer blocks with
// causal self-attention, and a final LayerNorm. SD v1 feeds the UNet the final hidden states of
// all 77 positions.
package clip

import (
	"fmt"
	"path/filepath"

	"github.com/slowai-go/course/slowai/nn/module"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// Config is the part of transformers' CLIPTextConfig the text model uses.
type Config struct {
	VocabSize             int     `json:"vocab_size"`
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	EOSTokenID            int     `json:"eos_token_id"`
}

// DefaultConfig is CLIPTextConfig's defaults (the base CLIP; SD v1's encoder is the large one, see
// SD1Config).
func DefaultConfig() Config {
	return Config{VocabSize: 49408, HiddenSize: 512, IntermediateSize: 2048, NumHiddenLayers: 12,
		NumAttentionHeads: 8, MaxPositionEmbeddings: 77, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		EOSTokenID: 49407}
}

// SD1Config is the text encoder of Stable Diffusion v1 (openai/clip-vit-large-patch14).
func SD1Config() Config {
	c := DefaultConfig()
	c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads = 768, 3072, 12
	c.EOSTokenID = 2
	return c
}

// LoadConfig reads dir/config.json over the defaults and validates it.
func LoadConfig(dir string) (Config, error) {
	return weights.LoadConfig(dir, "clip", DefaultConfig())
}

// Validate checks the sizes fit together.
func (c Config) Validate() error {
	switch {
	case c.VocabSize <= 0 || c.HiddenSize <= 0 || c.IntermediateSize <= 0 || c.NumHiddenLayers < 0 || c.MaxPositionEmbeddings <= 0:
		return fmt.Errorf("sizes must be positive: %+v", c)
	case c.NumAttentionHeads <= 0 || c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if _, err := nn.Activation(c.HiddenAct); err != nil {
		return fmt.Errorf("hidden_act: %w", err)
	}
	return nil
}

type layer struct {
	ln1, ln2   module.LayerNorm
	q, k, v, o module.Linear
	fc1, fc2   module.Linear
}

// Model is a CLIP text encoder whose parameters live in Vars.
type Model struct {
	Config Config
	Vars   module.Vars
	Specs  *module.Specs

	tok, pos module.Embedding
	layers   []layer
	final    module.LayerNorm
	act      func(*Node) *Node

	backend compute.Backend
	exec    *model.Exec
}

// New builds the module tree for cfg and declares its parameters; it stores no values (see Load,
// LoadWeights, NewRandom).
func New(cfg Config, vars module.Vars, be compute.Backend) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	act, _ := nn.Activation(cfg.HiddenAct)
	s := &module.Specs{}
	m := &Model{Config: cfg, Vars: vars, Specs: s, act: act, backend: be}
	const p = "text_model."
	m.tok = module.NewEmbedding(s, p+"embeddings.token_embedding", cfg.VocabSize, cfg.HiddenSize)
	m.pos = module.NewEmbedding(s, p+"embeddings.position_embedding", cfg.MaxPositionEmbeddings, cfg.HiddenSize)
	d, ff := cfg.HiddenSize, cfg.IntermediateSize
	for i := range cfg.NumHiddenLayers {
		n := fmt.Sprintf(p+"encoder.layers.%d.", i)
		m.layers = append(m.layers, layer{
			ln1: module.NewLayerNorm(s, n+"layer_norm1", d, cfg.LayerNormEps),
			q:   module.NewLinear(s, n+"self_attn.q_proj", d, d, true),
			k:   module.NewLinear(s, n+"self_attn.k_proj", d, d, true),
			v:   module.NewLinear(s, n+"self_attn.v_proj", d, d, true),
			o:   module.NewLinear(s, n+"self_attn.out_proj", d, d, true),
			ln2: module.NewLayerNorm(s, n+"layer_norm2", d, cfg.LayerNormEps),
			fc1: module.NewLinear(s, n+"mlp.fc1", d, ff, true),
			fc2: module.NewLinear(s, n+"mlp.fc2", ff, d, true),
		})
	}
	m.final = module.NewLayerNorm(s, p+"final_layer_norm", d, cfg.LayerNormEps)
	return m, nil
}

// loadOptions skips the position_ids buffer older transformers versions saved with the weights.
var loadOptions = module.Options{
	Ignore: func(name string) bool { return name == "text_model.embeddings.position_ids" },
}

// Load builds the model described by dir/config.json and loads its checkpoint (model.safetensors,
// or the fp16 variant) into a fresh store under "/clip".
func Load(dir string, be compute.Backend) (*Model, error) {
	return weights.LoadDir(dir, "/clip", be, LoadConfig, New)
}

// LoadWeights checks and loads a checkpoint file into the model's Vars.
func (m *Model) LoadWeights(path string) error {
	return module.LoadFile(m.Vars, path, m.Specs, loadOptions)
}

// NewRandom builds a model from cfg with seeded random parameters, for benchmarks.
func NewRandom(cfg Config, be compute.Backend, seed uint64) (*Model, error) {
	return weights.NewRandom(cfg, "/clip", be, seed, New)
}

// Params returns where the parameters live and what they are (for the weights helpers).
func (m *Model) Params() (module.Vars, *module.Specs) { return m.Vars, m.Specs }

// Output holds the graph values of a forward pass.
type Output struct {
	LastHidden *Node   // [B, T, hidden] after the final LayerNorm: SD's encoder_hidden_states
	Pooled     *Node   // [B, hidden]: LastHidden at each sequence's end-of-text token
	Hidden     []*Node // embeddings, then each layer's output (before the final LayerNorm)
}

// Forward builds the encoder for integer token ids [B, T] (T ≤ max_position_embeddings). The
// graph must be built by a model.Exec (any store), which feeds the parameters.
func (m *Model) Forward(ids *Node) Output {
	g := ids.Graph()
	dims := ids.Shape().Dimensions
	if ids.Rank() != 2 || dims[1] > m.Config.MaxPositionEmbeddings {
		panic(fmt.Sprintf("clip: ids must be [batch, T] with T <= %d, got %s", m.Config.MaxPositionEmbeddings, ids.Shape()))
	}
	b, t := dims[0], dims[1]
	positions := Slice(m.pos.Table(m.Vars, g), AxisRange(0, t))
	x := Add(m.tok.Apply(m.Vars, ids), InsertAxes(positions, 0))
	out := Output{Hidden: []*Node{x}}
	heads := m.Config.NumAttentionHeads
	for _, l := range m.layers {
		h := l.ln1.Apply(m.Vars, x)
		h = nn.Attention(l.q.Apply(m.Vars, h), l.k.Apply(m.Vars, h), l.v.Apply(m.Vars, h), heads, nil, true)
		x = Add(x, l.o.Apply(m.Vars, h))
		h = l.fc2.Apply(m.Vars, m.act(l.fc1.Apply(m.Vars, l.ln2.Apply(m.Vars, x))))
		x = Add(x, h)
		out.Hidden = append(out.Hidden, x)
	}
	out.LastHidden = m.final.Apply(m.Vars, x)

	// transformers' pooling rule: with the legacy eos_token_id 2 it takes the position of the
	// largest id (the first 49407), otherwise the first position holding eos_token_id.
	idsI := ConvertDType(ids, dtypes.Int64)
	var hit *Node
	if m.Config.EOSTokenID == 2 {
		hit = Equal(idsI, ReduceAndKeep(idsI, ReduceMax, 1))
	} else {
		hit = Equal(idsI, Scalar(g, dtypes.Int64, m.Config.EOSTokenID))
	}
	pos := Iota(g, shapes.Make(dtypes.Int64, b, t), 1)
	first := ReduceAndKeep(Where(hit, pos, Scalar(g, dtypes.Int64, t)), ReduceMin, 1)
	// No eos in a row: torch's argmax of an all-false row is 0.
	first = Where(Equal(first, Scalar(g, dtypes.Int64, t)), ZerosLike(first), first)
	sel := ConvertDType(Equal(pos, first), out.LastHidden.DType())
	// A masked sum rather than a batched matmul: compute-onnx mis-shapes DotGeneral when one
	// operand has no free axis.
	out.Pooled = ReduceSum(Mul(InsertAxes(sel, -1), out.LastHidden), 1)
	return out
}

// Encode runs the encoder on token ids (one row per prompt, all the same length) and returns
// the last hidden state [B, T, hidden] and the pooled output [B, hidden].
func (m *Model) Encode(ids [][]int) (lastHidden, pooled *tensors.Tensor, err error) {
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("clip.Encode: no token ids")
	}
	t := len(ids[0])
	flat := make([]int64, 0, len(ids)*t)
	for i, row := range ids {
		if len(row) != t {
			return nil, nil, fmt.Errorf("clip.Encode: row %d has %d ids, row 0 has %d", i, len(row), t)
		}
		for _, id := range row {
			if id < 0 || id >= m.Config.VocabSize {
				return nil, nil, fmt.Errorf("clip.Encode: row %d: id %d outside the vocabulary [0, %d)", i, id, m.Config.VocabSize)
			}
			flat = append(flat, int64(id))
		}
	}
	return m.EncodeTensor(tensors.FromFlatDataAndDimensions(flat, len(ids), t))
}

// EncodeTensor is Encode for an int64 [B, T] tensor.
func (m *Model) EncodeTensor(ids *tensors.Tensor) (lastHidden, pooled *tensors.Tensor, err error) {
	if m.exec == nil {
		m.exec, err = model.NewExec(m.backend, m.Vars.Store, func(_ *model.Scope, ids *Node) (*Node, *Node) {
			o := m.Forward(ids)
			return o.LastHidden, o.Pooled
		})
		if err != nil {
			return nil, nil, err
		}
	}
	outs, err := m.exec.Exec(ids)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: %w", err)
	}
	return outs[0], outs[1], nil
}

// Release frees the compiled graph and the working memory the engine keeps for it; the next
// Encode compiles again. The weights stay.
func (m *Model) Release() { weights.ReleaseExecs(&m.exec) }

// CheckGolden loads the model in dir, runs it on dir/io.safetensors' input_ids and compares
// last_hidden_state, pooler_output and every hidden_states.k with tolerance 1e-4, calling report
// for each. It returns an error if loading fails or any comparison fails.
func CheckGolden(dir string, be compute.Backend, report weights.ReportFunc) error {
	m, err := Load(dir, be)
	if err != nil {
		return err
	}
	gold, err := weights.OpenGolden(filepath.Join(dir, "io.safetensors"), report)
	if err != nil {
		return err
	}
	ids, err := gold.Tensor("input_ids")
	if err != nil {
		gold.Close()
		return err
	}
	n := m.Config.NumHiddenLayers + 1
	outs, err := model.ExecOnceN(be, m.Vars.Store, func(_ *model.Scope, ids *Node) []*Node {
		o := m.Forward(ids)
		return append([]*Node{o.LastHidden, o.Pooled}, o.Hidden...)
	}, ids)
	if err != nil {
		gold.Close()
		return fmt.Errorf("clip: %w", err)
	}
	const tol = 1e-4
	gold.Compare("last_hidden_state", outs[0], tol)
	gold.Compare("pooler_output", outs[1], tol)
	for k := range n {
		name := fmt.Sprintf("hidden_states.%d", k)
		if gold.Has(name) {
			gold.Compare(name, outs[2+k], tol)
		}
	}
	return gold.Close()
}
