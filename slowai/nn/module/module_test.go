package module

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/safetensors"
)

// toyModel declares a Linear(3->2) with bias and a GroupNorm over 4 channels.
func toyModel() *Specs {
	s := &Specs{}
	NewLinear(s, "block.proj", 3, 2, true)
	NewGroupNorm(s, "block.norm", 2, 4, 1e-6)
	return s
}

func seq(n int, start float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = start + float32(i)/8
	}
	return v
}

// toyArrays is a valid checkpoint for toyModel.
func toyArrays() []safetensors.Array {
	return []safetensors.Array{
		safetensors.F32("block.proj.weight", []int{2, 3}, seq(6, 1)),
		safetensors.F32("block.proj.bias", []int{2}, seq(2, -1)),
		safetensors.F32("block.norm.weight", []int{4}, seq(4, 2)),
		safetensors.F32("block.norm.bias", []int{4}, seq(4, 3)),
	}
}

func save(t *testing.T, arrays []safetensors.Array) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := safetensors.Save(path, arrays, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return path
}

func values(t *testing.T, v Vars, name string) ([]float32, []int) {
	t.Helper()
	vr := v.Variable(name)
	if vr == nil {
		t.Fatalf("no variable for %q", name)
	}
	val, err := vr.Value()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](val), val.Shape().Dimensions
}

func TestLoadFile(t *testing.T) {
	path := save(t, toyArrays())
	v := NewVars("/toy")
	if err := LoadFile(v, path, toyModel(), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := v.Path("block.proj.weight"); got != "/toy/block/proj/weight" {
		t.Errorf("Path = %q", got)
	}
	for _, a := range toyArrays() {
		got, shape := values(t, v, a.Name)
		f, _ := safetensors.Open(path)
		want, wantShape, _ := f.Float32(a.Name)
		f.Close()
		if !slices.Equal(got, want) || !slices.Equal(shape, wantShape) {
			t.Errorf("%s: got %v %v, want %v %v", a.Name, got, shape, want, wantShape)
		}
	}
	if v.Store.NumVariables() != 4 {
		t.Errorf("%d variables, want 4", v.Store.NumVariables())
	}
}

// TestLoadFinite: with Options.Finite a NaN or infinity is refused, naming the file and the
// tensor; without it the values load as stored.
func TestLoadFinite(t *testing.T) {
	arrays := toyArrays()
	vals := seq(4, 3)
	vals[2] = float32(math.Inf(-1))
	arrays[3] = safetensors.F32("block.norm.bias", []int{4}, vals)
	path := save(t, arrays)
	err := LoadFile(NewVars("/toy"), path, toyModel(), Options{Finite: true})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"block.norm.bias"`) {
		t.Fatalf("Finite load of an infinity: error %v, want it to name %s and \"block.norm.bias\"", err, path)
	}
	v := NewVars("/toy")
	if err := LoadFile(v, path, toyModel(), Options{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := values(t, v, "block.norm.bias"); !math.IsInf(float64(got[2]), -1) {
		t.Fatalf("plain load changed the stored infinity to %v", got[2])
	}
}

// TestLoadErrors checks every way a checkpoint can disagree with the model, and that each error
// names the file and the tensor.
func TestLoadErrors(t *testing.T) {
	edit := func(f func([]safetensors.Array) []safetensors.Array) []safetensors.Array { return f(toyArrays()) }
	cases := []struct {
		name    string
		arrays  []safetensors.Array
		opts    Options
		wantErr []string
	}{
		{"missing", edit(func(a []safetensors.Array) []safetensors.Array { return a[1:] }),
			Options{}, []string{"missing tensor", `"block.proj.weight"`, "[2 3]"}},
		{"unexpected", edit(func(a []safetensors.Array) []safetensors.Array {
			return append(a, safetensors.F32("block.extra", []int{1}, []float32{0}))
		}), Options{}, []string{"unexpected tensor", `"block.extra"`}},
		{"wrong shape", edit(func(a []safetensors.Array) []safetensors.Array {
			a[0] = safetensors.F32("block.proj.weight", []int{3, 2}, seq(6, 0))
			return a
		}), Options{}, []string{`"block.proj.weight"`, "[3 2]", "expected [2 3]"}},
		{"not float", edit(func(a []safetensors.Array) []safetensors.Array {
			a[1] = safetensors.I64("block.proj.bias", []int{2}, []int64{1, 2})
			return a
		}), Options{}, []string{`"block.proj.bias"`, "I64"}},
		{"conv-shaped without permission", edit(func(a []safetensors.Array) []safetensors.Array {
			a[0] = safetensors.F32("block.proj.weight", []int{2, 3, 1, 1}, seq(6, 0))
			return a
		}), Options{}, []string{`"block.proj.weight"`, "[2 3 1 1]"}},
		{"renamed twice", edit(func(a []safetensors.Array) []safetensors.Array {
			return append(a, safetensors.F32("block.old.weight", []int{2, 3}, seq(6, 0)))
		}), Options{Rename: func(s string) string { return strings.Replace(s, ".old.", ".proj.", 1) }},
			[]string{`"block.proj.weight"`, `"block.old.weight"`, "both"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := save(t, c.arrays)
			v := NewVars("/toy")
			err := LoadFile(v, path, toyModel(), c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(c.wantErr, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if v.Store.NumVariables() != 0 {
				t.Errorf("a failed load left %d variables", v.Store.NumVariables())
			}
		})
	}
}

func TestCorruptFiles(t *testing.T) {
	path := save(t, toyArrays())
	data, _ := os.ReadFile(path)
	hdrLen := int(binary.LittleEndian.Uint64(data))
	dir := t.TempDir()

	truncated := filepath.Join(dir, "truncated.safetensors")
	os.WriteFile(truncated, data[:len(data)-5], 0o644)
	err := LoadFile(NewVars("/toy"), truncated, toyModel(), Options{})
	// Tensors are laid out in name order, so the last one ("block.proj.weight") is cut.
	if err == nil || !strings.Contains(err.Error(), truncated) || !strings.Contains(err.Error(), "block.proj.weight") {
		t.Errorf("truncated file: %v", err)
	}

	badHeader := filepath.Join(dir, "bad.safetensors")
	bad := slices.Clone(data)
	copy(bad[8:], "{not json")
	os.WriteFile(badHeader, bad, 0o644)
	if err := LoadFile(NewVars("/toy"), badHeader, toyModel(), Options{}); err == nil || !strings.Contains(err.Error(), badHeader) {
		t.Errorf("bad header: %v", err)
	}

	short := filepath.Join(dir, "short.safetensors")
	os.WriteFile(short, data[:8+hdrLen/2], 0o644)
	if err := LoadFile(NewVars("/toy"), short, toyModel(), Options{}); err == nil || !strings.Contains(err.Error(), short) {
		t.Errorf("header cut short: %v", err)
	}
}

// toHalf rounds a float32 to IEEE half precision (round to nearest even; normal range only,
// enough for test data).
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	if f == 0 {
		return sign
	}
	if exp <= 0 || exp >= 31 {
		panic("toHalf: out of range")
	}
	h := uint32(exp)<<10 | mant>>13
	rest := mant & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// halfArrays re-encodes arrays as F16 or BF16.
func halfArrays(arrays []safetensors.Array, dtype string) []safetensors.Array {
	var out []safetensors.Array
	for _, a := range arrays {
		n := len(a.Data) / 4
		data := make([]byte, 2*n)
		for i := range n {
			f := math.Float32frombits(binary.LittleEndian.Uint32(a.Data[4*i:]))
			var h uint16
			if dtype == "F16" {
				h = toHalf(f)
			} else {
				h = uint16(math.Float32bits(f) >> 16) // truncation is a valid bf16 value
			}
			binary.LittleEndian.PutUint16(data[2*i:], h)
		}
		out = append(out, safetensors.Array{Name: a.Name, DType: dtype, Shape: a.Shape, Data: data})
	}
	return out
}

func TestHalfPrecision(t *testing.T) {
	arrays := toyArrays()
	arrays[0] = safetensors.F32("block.proj.weight", []int{2, 3}, []float32{0.1, -0.2, 1.0 / 3, 1e-3, 1000.5, -7})
	for _, dtype := range []string{"F16", "BF16"} {
		t.Run(dtype, func(t *testing.T) {
			path := save(t, halfArrays(arrays, dtype))
			v := NewVars("/toy")
			if err := LoadFile(v, path, toyModel(), Options{}); err != nil {
				t.Fatal(err)
			}
			got, _ := values(t, v, "block.proj.weight")
			want := []float32{0.1, -0.2, 1.0 / 3, 1e-3, 1000.5, -7}
			for i, w := range want {
				var exp float32
				if dtype == "F16" {
					exp = safetensors.HalfToFloat32(toHalf(w))
				} else {
					exp = math.Float32frombits(math.Float32bits(w) &^ 0xffff)
				}
				if got[i] != exp {
					t.Errorf("element %d: got %v, want %v (from %v)", i, got[i], exp, w)
				}
			}
			if vr := v.Variable("block.proj.weight"); vr.DType().String() != "Float32" {
				t.Errorf("stored as %s, want Float32", vr.DType())
			}
		})
	}
}

func TestConv1x1(t *testing.T) {
	s := &Specs{}
	s.Add(Spec{Name: "attn.to_q.weight", Shape: []int{2, 3}, Conv1x1OK: true})
	v := NewVars("/x")
	ok := save(t, []safetensors.Array{safetensors.F32("attn.to_q.weight", []int{2, 3, 1, 1}, seq(6, 0))})
	if err := LoadFile(v, ok, s, Options{}); err != nil {
		t.Fatal(err)
	}
	got, shape := values(t, v, "attn.to_q.weight")
	if !slices.Equal(shape, []int{2, 3}) || !slices.Equal(got, seq(6, 0)) {
		t.Errorf("got %v %v", got, shape)
	}
	bad := save(t, []safetensors.Array{safetensors.F32("attn.to_q.weight", []int{2, 3, 3, 1}, seq(18, 0))})
	if err := LoadFile(NewVars("/x"), bad, s, Options{}); err == nil {
		t.Error("[2 3 3 1] accepted for [2 3]")
	}
}

func TestRandomize(t *testing.T) {
	s := toyModel()
	a, b, c := NewVars("/a"), NewVars("/b"), NewVars("/c")
	for _, x := range []struct {
		v    Vars
		seed uint64
	}{{a, 1}, {b, 1}, {c, 2}} {
		if err := Randomize(x.v, s, x.seed); err != nil {
			t.Fatal(err)
		}
	}
	wa, _ := values(t, a, "block.proj.weight")
	wb, _ := values(t, b, "block.proj.weight")
	wc, _ := values(t, c, "block.proj.weight")
	if !slices.Equal(wa, wb) || slices.Equal(wa, wc) {
		t.Errorf("same seed must repeat, another must differ: %v %v %v", wa, wb, wc)
	}
	bound := float32(1 / math.Sqrt(3))
	for _, x := range wa {
		if x < -bound || x > bound {
			t.Errorf("weight %v outside ±1/√fan_in = %v", x, bound)
		}
	}
	ones, _ := values(t, a, "block.norm.weight")
	zeros, _ := values(t, a, "block.norm.bias")
	if !slices.Equal(ones, []float32{1, 1, 1, 1}) || !slices.Equal(zeros, []float32{0, 0, 0, 0}) {
		t.Errorf("norm init: %v %v", ones, zeros)
	}
	if n := s.NumParams(); n != 6+2+4+4 {
		t.Errorf("NumParams = %d", n)
	}
}

// TestVarsOnBackend loads and randomizes straight into each engine's buffers and checks that the
// values are the plain ones, that they live in shared buffers where the engine has them, and that
// a graph reads them correctly.
func TestVarsOnBackend(t *testing.T) {
	path := save(t, toyArrays())
	for _, name := range backend.Available() {
		if name == "xla" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			be, err := backend.NewNamed(name)
			if err != nil {
				t.Fatal(err)
			}
			plain, onBE := NewVars("/toy"), NewVarsOn("/toy", be)
			for _, v := range []Vars{plain, onBE} {
				if err := LoadFile(v, path, toyModel(), Options{}); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range toyArrays() {
				got, _ := values(t, onBE, a.Name)
				want, _ := values(t, plain, a.Name)
				if !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", a.Name, got, want)
				}
				val, _ := onBE.Variable(a.Name).Value()
				if val.IsShared() != be.HasSharedBuffers() {
					t.Errorf("%s: shared = %v, engine shares buffers = %v", a.Name, val.IsShared(), be.HasSharedBuffers())
				}
			}
			// proj.weight · [1, 1, 1] + proj.bias, computed by the engine from the stored variables.
			outs, err := model.ExecOnceN(be, onBE.Store, func(_ *model.Scope, in []*Node) []*Node {
				g := in[0].Graph()
				w := onBE.Node(g, "block.proj.weight")
				return []*Node{Add(ReduceSum(w, 1), onBE.Node(g, "block.proj.bias"))}
			}, tensors.FromScalar(float32(0)))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](outs[0])
			// rows of seq(6, 1): 1+1.125+1.25 and 1.375+1.5+1.625; bias seq(2, -1): -1, -0.875.
			if want := []float32{2.375, 3.625}; !slices.Equal(got, want) {
				t.Errorf("graph over shared variables: %v, want %v", got, want)
			}
			r1, r2 := NewVars("/r"), NewVarsOn("/r", be)
			for _, v := range []Vars{r1, r2} {
				if err := Randomize(v, toyModel(), 7); err != nil {
					t.Fatal(err)
				}
			}
			a, _ := values(t, r1, "block.proj.weight")
			b, _ := values(t, r2, "block.proj.weight")
			if !slices.Equal(a, b) {
				t.Errorf("Randomize differs between plain and engine storage: %v vs %v", a, b)
			}
		})
	}
}

// TestSaveFileRoundTrip: what SaveFile writes, LoadFile reads back unchanged, extras and
// metadata included.
func TestSaveFileRoundTrip(t *testing.T) {
	src := NewVars("/a")
	if err := Randomize(src, toyModel(), 3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	extra := []safetensors.Array{safetensors.F32("losses", []int{2}, []float32{1, 0.5})}
	if err := SaveFile(src, path, toyModel(), extra, map[string]string{"format": "toy"}); err != nil {
		t.Fatal(err)
	}
	dst := NewVars("/b")
	if err := LoadFile(dst, path, toyModel(), Options{Ignore: func(name string) bool { return name == "losses" }}); err != nil {
		t.Fatal(err)
	}
	for _, sp := range toyModel().List() {
		a, _ := Values(src, sp.Name)
		b, _ := Values(dst, sp.Name)
		if !slices.Equal(a, b) {
			t.Errorf("%s: saved %v, loaded %v", sp.Name, a, b)
		}
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["format"] != "toy" {
		t.Errorf("metadata %v", f.Metadata)
	}
}
