package module

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/safetensors"
)

// Vars locates a model's parameters: variables of Store under Prefix, one per checkpoint key, with
// the key's dots turned into scope separators ("/unet" + "conv_in.weight" -> "/unet/conv_in/weight").
// Distinct prefixes let several models share one graph.
//
// When Backend is set and keeps its buffers in host memory it shares with Go (ONNX Runtime and
// pure Go on the CPU), parameters are written straight into that backend's buffers: a 3.4 GB UNet
// is then held once, outside Go's heap, instead of once in Go's heap (which the garbage collector
// lets grow to twice its live size) and once more in the backend.
type Vars struct {
	Store   *model.Store
	Prefix  string
	Backend compute.Backend
	// Train is set while a training step's graph is built: BatchNorm then normalises with the
	// batch's statistics and updates its running ones.
	Train bool
	// Taps, when not nil, collects the activations layers report with Tap (activation
	// statistics in lesson 08, per-layer summaries in lesson 11).
	Taps *Taps
	// Noise, when not nil, is the training step's source of random numbers (Dropout's masks).
	Noise *Noise
}

// Taps is an ordered list of named activations of one graph.
type Taps struct {
	Names []string
	Nodes []*Node
}

// Tap reports x as the output of the layer called name; nothing happens unless Taps is set.
func (v Vars) Tap(name string, x *Node) {
	if v.Taps != nil {
		v.Taps.Names = append(v.Taps.Names, name)
		v.Taps.Nodes = append(v.Taps.Nodes, x)
	}
}

// SetNode makes value the parameter's new value when the graph runs (a model.Exec writes it back
// to the store): how BatchNorm updates its running statistics.
func (v Vars) SetNode(name string, value *Node) {
	vr := v.Variable(name)
	if vr == nil {
		panic(fmt.Sprintf("module: no variable %q (parameter %q) in the store", v.Path(name), name))
	}
	vr.SetNodeValue(value)
}

// NewVars returns Vars for a fresh store under prefix, with parameters kept as plain Go tensors.
func NewVars(prefix string) Vars {
	return Vars{Store: model.NewStore(), Prefix: prefix}
}

// NewVarsOn returns Vars for a fresh store under prefix whose parameters live in be's buffers.
func NewVarsOn(prefix string, be compute.Backend) Vars {
	return Vars{Store: model.NewStore(), Prefix: prefix, Backend: be}
}

// Path is the variable path of a checkpoint key.
func (v Vars) Path(name string) string {
	p := strings.TrimSuffix(v.Prefix, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if p == "/" {
		p = ""
	}
	return p + "/" + strings.ReplaceAll(name, ".", "/")
}

// Variable returns the variable for a checkpoint key, or nil.
func (v Vars) Variable(name string) *model.Variable {
	return v.Store.GetVariable(v.Path(name))
}

// Node returns the graph value of a parameter. The graph must be built by a model.Exec (with any
// store), which feeds the variables as parameters. A name the model never declared is a bug in the
// model code, so it panics.
func (v Vars) Node(g *Graph, name string) *Node {
	vr := v.Variable(name)
	if vr == nil {
		panic(fmt.Sprintf("module: no variable %q (parameter %q) in the store", v.Path(name), name))
	}
	return vr.NodeValue(g)
}

// Check compares the checkpoint header at path with specs: every spec present exactly once (after
// Rename) with its shape, nothing else stored except what Ignore skips. It returns, for each spec
// name, the stored name to read.
func Check(f *safetensors.File, specs *Specs, opts Options) (map[string]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("weights %s: %s", f.Path, fmt.Sprintf(format, args...))
	}
	source := map[string]string{} // spec name -> stored name
	var unexpected []string
	for _, stored := range f.Names() {
		if opts.Ignore != nil && opts.Ignore(stored) {
			continue
		}
		name := stored
		if opts.Rename != nil {
			name = opts.Rename(stored)
		}
		spec, ok := specs.Lookup(name)
		if !ok {
			unexpected = append(unexpected, stored)
			continue
		}
		if prev, dup := source[name]; dup {
			return nil, bad("tensors %q and %q both provide parameter %q", prev, stored, name)
		}
		source[name] = stored
		info, _ := f.Info(stored)
		switch info.DType {
		case "F32", "F16", "BF16", "F64":
		default:
			return nil, bad("tensor %q is %s, expected a float type", stored, info.DType)
		}
		if !shapeMatches(spec, info.Shape) {
			return nil, bad("tensor %q has shape %v, expected %v", stored, info.Shape, spec.Shape)
		}
	}
	if len(unexpected) > 0 {
		return nil, bad("unexpected tensor%s %s (not a parameter of this model config)",
			plural(len(unexpected)), quoteFew(unexpected))
	}
	var missing []string
	for _, sp := range specs.List() {
		if _, ok := source[sp.Name]; !ok {
			missing = append(missing, fmt.Sprintf("%q %v", sp.Name, sp.Shape))
		}
	}
	if len(missing) > 0 {
		return nil, bad("missing tensor%s %s", plural(len(missing)), Few(missing))
	}
	return source, nil
}

func shapeMatches(spec Spec, stored []int) bool {
	if slices.Equal(spec.Shape, stored) {
		return true
	}
	return spec.Conv1x1OK && len(spec.Shape) == 2 && len(stored) == 4 &&
		stored[0] == spec.Shape[0] && stored[1] == spec.Shape[1] && stored[2] == 1 && stored[3] == 1
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func quoteFew(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return Few(q)
}

// Few joins up to 8 items, so a wholly wrong checkpoint still gives a readable error.
func Few(items []string) string {
	const max = 8
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s, ... (%d in all)", strings.Join(items[:max], ", "), len(items))
}

// LoadFile checks the checkpoint at path against specs and stores every tensor, widened to
// float32, as a variable of v. Nothing is stored unless the whole header checks out.
func LoadFile(v Vars, path string, specs *Specs, opts Options) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	source, err := Check(f, specs, opts)
	if err != nil {
		return err
	}
	for _, sp := range specs.List() {
		err := v.set(sp, func(dst []float32) error {
			if err := f.Float32Into(source[sp.Name], dst); err != nil {
				return err
			}
			if opts.Finite {
				if err := safetensors.CheckFinite(dst); err != nil {
					return fmt.Errorf("weights %s: tensor %q: %w", path, source[sp.Name], err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("module: %w", err)
		}
	}
	return nil
}

// set creates or overwrites the variable for sp, with contents written by fill into a new tensor.
func (v Vars) set(sp Spec, fill func(dst []float32) error) error {
	t, err := v.newTensor(sp, fill)
	if err != nil {
		return err
	}
	return v.store(sp, t)
}

// newTensor allocates sp's tensor (in the backend's buffers where it shares them) and fills it.
func (v Vars) newTensor(sp Spec, fill func(dst []float32) error) (*tensors.Tensor, error) {
	shape := shapes.Make(dtypes.Float32, sp.Shape...)
	var t *tensors.Tensor
	if v.Backend != nil && v.Backend.HasSharedBuffers() {
		var err error
		if t, err = tensors.FromShapeForBackend(v.Backend, 0, shape); err != nil {
			return nil, fmt.Errorf("allocating %q %v on %s: %w", sp.Name, sp.Shape, v.Backend.Name(), err)
		}
	} else {
		t = tensors.FromShape(shape)
	}
	var fillErr error
	err := tensors.MutableFlatData(t, func(flat []float32) { fillErr = fill(flat) })
	if err == nil {
		err = fillErr
	}
	if err != nil {
		t.FinalizeAll()
		return nil, err
	}
	return t, nil
}

// store makes t the value of sp's variable, creating it if needed; the old value is freed.
func (v Vars) store(sp Spec, t *tensors.Tensor) error {
	if old := v.Variable(sp.Name); old != nil {
		if !old.Shape().Equal(t.Shape()) {
			t.FinalizeAll()
			return fmt.Errorf("module: variable %q already exists with shape %s, want %v", old.Path(), old.Shape(), sp.Shape)
		}
		return old.SetValue(t)
	}
	_, err := v.Store.CreateVariable(v.Path(sp.Name), t)
	return err
}

// Randomize fills every spec with values drawn as its Init says, from a generator seeded with
// seed (the same seed gives the same model). For full-size benchmarks without a checkpoint.
func Randomize(v Vars, specs *Specs, seed uint64) error {
	list := specs.List()
	// Each tensor gets its own stream, so filling can run in parallel and stay deterministic.
	var wg sync.WaitGroup
	errs := make([]error, len(list))
	values := make([]*tensors.Tensor, len(list))
	sem := make(chan struct{}, 4)
	for i, sp := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			values[i], errs[i] = v.newTensor(sp, func(dst []float32) error {
				fillRandom(sp, dst, rand.New(rand.NewPCG(seed, uint64(i))))
				return nil
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, t := range values {
			if t != nil {
				t.FinalizeAll()
			}
		}
		return err
	}
	// The store is not safe for concurrent use: variables are created one at a time.
	for i, sp := range list {
		if err := v.store(sp, values[i]); err != nil {
			return err
		}
	}
	return nil
}

// Options adapts a checkpoint's names to the model's.
type Options struct {
	// Rename maps a stored name to the model's name for it (legacy layouts). Nil keeps names.
	Rename func(stored string) string
	// Ignore reports stored tensors that are not parameters (buffers such as position_ids).
	Ignore func(stored string) bool
	// Finite refuses a tensor holding NaN or infinite values, naming the file and the tensor: for
	// weights saved by training, where such values mean the run diverged or the file is damaged.
	Finite bool
}

// Values copies a parameter's current values to the host.
func Values(v Vars, name string) ([]float32, error) {
	vr := v.Variable(name)
	if vr == nil {
		return nil, fmt.Errorf("module: no variable %q (parameter %q) in the store", v.Path(name), name)
	}
	t, err := vr.Value()
	if err != nil {
		return nil, fmt.Errorf("module: %s: %w", name, err)
	}
	return tensors.CopyFlatData[float32](t)
}

// SetValues creates or overwrites sp's variable with values (size(sp.Shape) of them), or with
// sp.Init's values from a fixed seed when values is nil.
func SetValues(v Vars, sp Spec, values []float32) error {
	if values != nil && len(values) != size(sp.Shape) {
		return fmt.Errorf("module: %s: %d values for shape %v", sp.Name, len(values), sp.Shape)
	}
	return v.set(sp, func(dst []float32) error {
		if values == nil {
			fillRandom(sp, dst, rand.New(rand.NewPCG(0, 0)))
		} else {
			copy(dst, values)
		}
		return nil
	})
}

// SaveFile writes every spec's values in v to path as a safetensors weights file under its
// checkpoint name (what LoadFile reads back), plus extra arrays (a loss history, say) and
// metadata, atomically.
func SaveFile(v Vars, path string, specs *Specs, extra []safetensors.Array, meta map[string]string) error {
	arrays := make([]safetensors.Array, 0, specs.Len()+len(extra))
	for _, sp := range specs.List() {
		vals, err := Values(v, sp.Name)
		if err != nil {
			return fmt.Errorf("module: saving %s: %w", path, err)
		}
		arrays = append(arrays, safetensors.F32(sp.Name, sp.Shape, vals))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("module: saving %s: %w", path, err)
	}
	return safetensors.Save(path, append(arrays, extra...), meta)
}
