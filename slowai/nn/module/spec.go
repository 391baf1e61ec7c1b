// Package module is the course's one parameter system: every model, from lesson 05's first CNN to
// Stable Diffusion's U-Net, declares its parameters as Specs and reads them from Vars.
//
// A model lists the parameters it needs as Specs, named as PyTorch would name them in a checkpoint
// (names mirror the module tree: "down.0.conv1.weight"). The values are variables of a GoMLX
// model.Store (under a prefix such as "/unet"), so graphs take them as parameters rather than
// baking them in as constants, a model.Exec can update them in place (training), gradients flow
// through them, and loading a checkpoint is a walk over the list: each expected name stored once
// with the expected shape, anything else in the file an error.
package module

import (
	"fmt"
)

// Init says how Randomize fills a parameter. Fans are PyTorch's: fan_in is the product of all
// dimensions but the first (inputs × kernel area), fan_out the first times the kernel area.
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
	// InitXavierUniform (Glorot) draws uniformly from ±√(6/(fan_in+fan_out)): variance
	// 2/(fan_in+fan_out), which keeps both the activations and the gradients of a linear layer at
	// the scale they came in with.
	InitXavierUniform
	// InitXavierNormal draws from N(0, 2/(fan_in+fan_out)).
	InitXavierNormal
	// InitKaiming (He) draws from N(0, 2/((1+leak²)·fan_in)), with leak from Spec.Leak: the
	// variance that keeps activations at scale through a (leaky) ReLU, which zeroes half its input.
	InitKaiming
	// InitOrthogonal fills the [fan_out, fan_in]-shaped matrix with orthonormal rows (or columns,
	// whichever are fewer), so the layer preserves lengths exactly.
	InitOrthogonal
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
	// Leak is the negative slope of the leaky ReLU that follows, for InitKaiming.
	Leak float64
	// Buffer marks state that is saved with the model but not trained (BatchNorm's running
	// statistics): optimizers leave it alone.
	Buffer bool
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
		panic(fmt.Sprintf("module: parameter %q declared twice", spec.Name))
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

// NumTrainable is the number of scalar parameters an optimizer updates (buffers left out).
func (s *Specs) NumTrainable() int64 {
	var n int64
	for _, sp := range s.list {
		if !sp.Buffer {
			n += int64(size(sp.Shape))
		}
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

// IsWeight is true for a trainable matrix or convolution kernel (rank 2 or more): the parameters
// an initialisation scheme is about, as opposed to biases, norm scales and buffers.
func IsWeight(sp Spec) bool { return len(sp.Shape) >= 2 && !sp.Buffer }

// SetInit makes Randomize fill every spec that match accepts (IsWeight, say) with init, and sets
// the spec's Leak (for InitKaiming). Call it before the values are drawn (before learn.New, which
// randomizes the model). It returns how many specs changed, so a match that hits nothing shows.
func (s *Specs) SetInit(init Init, leak float64, match func(Spec) bool) int {
	n := 0
	for i, sp := range s.list {
		if match(sp) {
			s.list[i].Init, s.list[i].Leak = init, leak
			n++
		}
	}
	return n
}
