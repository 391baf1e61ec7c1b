package weights

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/slowai-go/course/slowai/nn/module"
)

// Component is what the shared constructors need from a model (clip, vae, unet): its parameters,
// and how it loads a checkpoint file into them (with its own renames and ignores).
type Component interface {
	Params() (module.Vars, *module.Specs)
	LoadWeights(path string) error
}

// Build makes a component from its config, with its parameters under vars (package-level New).
type Build[C any, M Component] func(cfg C, vars module.Vars, be compute.Backend) (M, error)

// LoadDir builds the component described by dir/config.json (read with loadConfig) under a fresh
// store at prefix, and loads dir's checkpoint (full precision, else the fp16 variant) into it.
// On a checkpoint error the built model is returned along with the error.
func LoadDir[C any, M Component](dir, prefix string, be compute.Backend, loadConfig func(dir string) (C, error), build Build[C, M]) (M, error) {
	var zero M
	cfg, err := loadConfig(dir)
	if err != nil {
		return zero, err
	}
	m, err := build(cfg, module.NewVarsOn(prefix, be), be)
	if err != nil {
		return zero, err
	}
	path, err := FindFile(dir, "")
	if err != nil {
		return zero, err
	}
	return m, m.LoadWeights(path)
}

// NewRandom builds a component from cfg under a fresh store at prefix, with seeded random
// parameters (see module.Randomize), for benchmarks and shape tests without a checkpoint.
func NewRandom[C any, M Component](cfg C, prefix string, be compute.Backend, seed uint64, build Build[C, M]) (M, error) {
	m, err := build(cfg, module.NewVarsOn(prefix, be), be)
	if err != nil {
		var zero M
		return zero, err
	}
	v, s := m.Params()
	return m, module.Randomize(v, s, seed)
}

// ReleaseExecs finalizes each compiled graph that exists and clears it: a model's Release, which
// frees the engine's working memory for those graphs while the weights stay.
func ReleaseExecs(execs ...**model.Exec) {
	for _, e := range execs {
		if *e != nil {
			(*e).Finalize()
			*e = nil
		}
	}
}

// Taps records intermediate graph values by name when non-nil, for comparing a model's inner
// tensors with the reference's debug tensors.
type Taps map[string]*Node

// Put records x under name (nothing when t is nil).
func (t Taps) Put(name string, x *Node) {
	if t != nil {
		t[name] = x
	}
}
