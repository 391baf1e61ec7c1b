// Package weights loads Hugging Face component directories (config.json plus a safetensors
// checkpoint) into GoMLX variables, checking every tensor against what the model expects.
//
// A model built from its config lists the parameters it needs as Specs, named exactly as in the
// checkpoint (diffusers/transformers names mirror the module tree). Loading is then a walk over
// that list: each expected name must be stored once with the expected shape, and anything else in
// the file is an error. The tensors become variables of a model.Store (under a prefix such as
// "/unet"), so graphs take them as parameters rather than baking them in as constants, the same
// model can be filled with random values for benchmarks, and gradients with respect to inputs flow
// through them.
package weights

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Init says how NewRandom-style initialisation fills a parameter.
type Init int

const (
	// InitFanIn draws uniformly from ±1/√fan_in, PyTorch's default for Linear and Conv layers
	// (fan_in = product of all dimensions but the first).
	InitFanIn Init = iota
	// InitBias draws uniformly from ±1/√fan_in where fan_in comes from Spec.FanIn.
	InitBias
	// InitOnes fills with 1 (normalisation scales).
	InitOnes
	// InitZeros fills with 0 (normalisation shifts).
	InitZeros
	// InitEmbedding draws from N(0, 0.02²), as CLIP initialises its embeddings.
	InitEmbedding
)

// Spec is one tensor a model expects in its checkpoint.
type Spec struct {
	Name  string // checkpoint key, e.g. "down_blocks.0.resnets.0.conv1.weight"
	Shape []int
	Init  Init
	FanIn int // for InitBias
	// Conv1x1OK accepts a stored [out, in, 1, 1] tensor for a [out, in] spec: old VAE checkpoints
	// stored attention projections as 1×1 convolutions, which are the same linear map.
	Conv1x1OK bool
}

// Specs is the ordered list of a model's parameters, filled while the model is built from its
// config.
type Specs struct {
	list  []Spec
	index map[string]int
}

// Add appends a spec. Adding a name twice is a bug in the model code, so it panics.
func (s *Specs) Add(spec Spec) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	if _, dup := s.index[spec.Name]; dup {
		panic(fmt.Sprintf("weights: parameter %q declared twice", spec.Name))
	}
	s.index[spec.Name] = len(s.list)
	s.list = append(s.list, spec)
}

// List returns the specs in declaration order.
func (s *Specs) List() []Spec { return s.list }

// Len is the number of specs.
func (s *Specs) Len() int { return len(s.list) }

// Lookup finds the spec with the given name.
func (s *Specs) Lookup(name string) (Spec, bool) {
	i, ok := s.index[name]
	if !ok {
		return Spec{}, false
	}
	return s.list[i], true
}

// NumParams is the total number of scalar parameters.
func (s *Specs) NumParams() int64 {
	var n int64
	for _, sp := range s.list {
		n += int64(size(sp.Shape))
	}
	return n
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ReadConfig decodes dir/config.json into v (a pointer to a config struct whose defaults are
// already set, so keys absent from the file keep them).
func ReadConfig(dir string, v any) error {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("weights: reading config: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("weights: %s: %w", path, err)
	}
	return nil
}

// weightFiles are the checkpoint names diffusers and transformers write, in preference order:
// full precision first, then the fp16 variant.
var weightFiles = []string{
	"diffusion_pytorch_model.safetensors",
	"model.safetensors",
	"diffusion_pytorch_model.fp16.safetensors",
	"model.fp16.safetensors",
}

// FindFile returns the checkpoint in dir. variant "" prefers the full-precision file and falls
// back to the fp16 one; variant "fp16" asks for the fp16 file only.
func FindFile(dir, variant string) (string, error) {
	var tried []string
	for _, name := range weightFiles {
		isFP16 := strings.HasSuffix(name, ".fp16.safetensors")
		if variant == "fp16" && !isFP16 {
			continue
		}
		if variant != "" && variant != "fp16" {
			return "", fmt.Errorf("weights: unknown variant %q (want \"\" or \"fp16\")", variant)
		}
		path := filepath.Join(dir, name)
		tried = append(tried, name)
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			return path, nil
		}
	}
	return "", fmt.Errorf("weights: no checkpoint in %s (looked for %s)", dir, strings.Join(tried, ", "))
}

// Options adapts a checkpoint's names to the model's.
type Options struct {
	// Rename maps a stored name to the model's name for it (legacy layouts). Nil keeps names.
	Rename func(stored string) string
	// Ignore reports stored tensors that are not parameters (buffers such as position_ids).
	Ignore func(stored string) bool
}

// sortedKeys is for stable error messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// LoadConfig reads dir/config.json over defaults (see ReadConfig) and validates the result; a
// validation error names the component ("unet", "vae", ...) and the file.
func LoadConfig[C interface{ Validate() error }](dir, component string, defaults C) (C, error) {
	c := defaults
	if err := ReadConfig(dir, &c); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %s: %w", component, filepath.Join(dir, "config.json"), err)
	}
	return c, nil
}
