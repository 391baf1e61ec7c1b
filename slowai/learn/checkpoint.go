package learn

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/safetensors"
)

// Format is the "format" metadata of the Learner's checkpoints.
const Format = "slowai-learn/1"

// Stateful callbacks (the recorder, metrics) keep state that checkpoints save and restore.
type Stateful interface {
	Name() string // key in the checkpoint, unique among the callbacks
	SaveState() ([]byte, error)
	LoadState([]byte) error
}

// position is where training stands, saved as JSON in the checkpoint's metadata.
type position struct {
	Epoch, Step, Iter int
	Train, Valid      *data.LoaderState `json:",omitempty"`
	RNG               string            // the Learner's generator (hex of rand.PCG's MarshalBinary)
	LR, Mom           float64
}

// Save writes everything training needs to continue exactly where it stands — every variable of
// the store (weights, buffers, the optimizer's slots, the EMA) under its path, the loaders'
// positions, the Learner's generator and the state of Stateful callbacks — to path as
// safetensors, atomically. meta adds entries (a model config, say) to the metadata.
func (l *Learner) Save(path string, meta map[string]string) error {
	var arrays []safetensors.Array
	for v := range l.Vars.Store.IterVariables() {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("learn: saving %s: %s: %w", path, v.Path(), err)
		}
		vals, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return fmt.Errorf("learn: saving %s: %s: %w", path, v.Path(), err)
		}
		arrays = append(arrays, safetensors.F32(v.Path(), t.Shape().Dimensions, vals))
	}
	rng, _ := l.rng.MarshalBinary()
	pos := position{Epoch: l.Epoch, Step: l.Step, Iter: l.Iter, RNG: hex.EncodeToString(rng), LR: l.LR, Mom: l.Mom}
	ts := l.Data.Train.State()
	pos.Train = &ts
	if l.Data.Valid != nil {
		vs := l.Data.Valid.State()
		pos.Valid = &vs
	}
	md := maps.Clone(meta)
	if md == nil {
		md = map[string]string{}
	}
	md["format"] = Format
	md["position"] = mustJSON(pos)
	md["optimizer"] = l.Opt.Name()
	for _, cb := range l.Callbacks {
		if s, ok := cb.(Stateful); ok {
			b, err := s.SaveState()
			if err != nil {
				return fmt.Errorf("learn: saving %s: callback %s: %w", path, s.Name(), err)
			}
			md["callback/"+s.Name()] = string(b)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("learn: saving checkpoint: %w", err)
	}
	return safetensors.Save(path, arrays, md)
}

// Load restores a checkpoint written by Save into this Learner, which must have been made the
// same way (same model, optimizer, EMA setting and callbacks): every variable must be in the
// file with its shape. Nothing changes unless the whole file checks out. A Fit after Load
// continues the run as if it had never stopped.
func (l *Learner) Load(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	defer f.Close()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("learn: checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	md := f.Metadata
	if md["format"] != Format {
		return bad("format %q, expected %q", md["format"], Format)
	}
	if md["optimizer"] != l.Opt.Name() {
		return bad("saved with optimizer %q, this Learner uses %q", md["optimizer"], l.Opt.Name())
	}
	var pos position
	if err := json.Unmarshal([]byte(md["position"]), &pos); err != nil || pos.Train == nil {
		return bad("bad position metadata %q: %v", md["position"], err)
	}
	rngBytes, err := hex.DecodeString(pos.RNG)
	if err != nil {
		return bad("bad generator state: %v", err)
	}
	values := map[string][]float32{}
	for v := range l.Vars.Store.IterVariables() {
		vals, shape, err := f.Float32(v.Path())
		if err != nil {
			return bad("%v", err)
		}
		if !slices.Equal(shape, v.Shape().Dimensions) {
			return bad("%s has shape %v, this Learner's is %v", v.Path(), shape, v.Shape().Dimensions)
		}
		values[v.Path()] = vals
	}
	if len(values) != len(f.Names()) {
		return bad("holds %d tensors, this Learner has %d variables (a different model or optimizer?)", len(f.Names()), len(values))
	}
	states := map[Stateful][]byte{}
	for _, cb := range l.Callbacks {
		if s, ok := cb.(Stateful); ok {
			b, ok := md["callback/"+s.Name()]
			if !ok {
				return bad("no state for callback %s", s.Name())
			}
			states[s] = []byte(b)
		}
	}
	// Everything checked: now change the Learner.
	if err := l.rng.UnmarshalBinary(rngBytes); err != nil {
		return bad("bad generator state: %v", err)
	}
	if err := l.Data.Train.Restore(*pos.Train); err != nil {
		return bad("%v", err)
	}
	if l.Data.Valid != nil && pos.Valid != nil {
		if err := l.Data.Valid.Restore(*pos.Valid); err != nil {
			return bad("%v", err)
		}
	}
	for v := range l.Vars.Store.IterVariables() {
		t := tensors.FromFlatDataAndDimensions(values[v.Path()], v.Shape().Dimensions...)
		if err := v.SetValue(t); err != nil {
			return bad("%s: %v", v.Path(), err)
		}
	}
	for s, b := range states {
		if err := s.LoadState(b); err != nil {
			return bad("callback %s: %v", s.Name(), err)
		}
	}
	l.Epoch, l.Step, l.Iter, l.LR, l.Mom = pos.Epoch, pos.Step, pos.Iter, pos.LR, pos.Mom
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
