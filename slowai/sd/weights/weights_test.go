package weights

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/slowai-go/course/slowai/safetensors"
)

func TestFindFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := FindFile(dir, ""); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty dir: %v", err)
	}
	fp16 := filepath.Join(dir, "diffusion_pytorch_model.fp16.safetensors")
	os.WriteFile(fp16, nil, 0o644)
	os.WriteFile(filepath.Join(dir, "io.safetensors"), nil, 0o644)
	if got, err := FindFile(dir, ""); err != nil || got != fp16 {
		t.Errorf("only fp16 present: %q, %v", got, err)
	}
	full := filepath.Join(dir, "diffusion_pytorch_model.safetensors")
	os.WriteFile(full, nil, 0o644)
	if got, _ := FindFile(dir, ""); got != full {
		t.Errorf("full precision not preferred: %q", got)
	}
	if got, _ := FindFile(dir, "fp16"); got != fp16 {
		t.Errorf("variant fp16: %q", got)
	}
	if _, err := FindFile(dir, "int8"); err == nil {
		t.Error("unknown variant accepted")
	}
}

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	var c struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	c.B = 7
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"a": 3}`), 0o644)
	if err := ReadConfig(dir, &c); err != nil || c.A != 3 || c.B != 7 {
		t.Errorf("got %+v, %v (defaults must survive)", c, err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"a": `), 0o644)
	if err := ReadConfig(dir, &c); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad JSON: %v", err)
	}
}

// seq is 0, 1/8, 2/8, ... from start.
func seq(n int, start float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = start + float32(i)/8
	}
	return v
}

func TestGoldenCompare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.safetensors")
	if err := safetensors.Save(path, []safetensors.Array{safetensors.F32("block.proj.weight", []int{2, 3}, seq(6, 1))}, nil); err != nil {
		t.Fatal(err)
	}
	var reports []string
	g, err := OpenGolden(path, func(name string, maxErr, tol float64, pass bool) {
		reports = append(reports, name)
	})
	if err != nil {
		t.Fatal(err)
	}
	w := tensors.FromFlatDataAndDimensions(seq(6, 1), 2, 3)
	g.Compare("block.proj.weight", w, 1e-6)
	if err := g.Close(); err != nil {
		t.Errorf("equal tensors reported as mismatch: %v", err)
	}
	g, _ = OpenGolden(path, nil)
	off := seq(6, 1)
	off[4] += 0.01
	g.Compare("block.proj.weight", tensors.FromFlatDataAndDimensions(off, 2, 3), 1e-3)
	g.Compare("block.proj.weight", tensors.FromFlatDataAndDimensions(seq(6, 1), 3, 2), 1e-3)
	err = g.Close()
	if err == nil || !strings.Contains(err.Error(), "2 mismatches") || !strings.Contains(err.Error(), "shape") {
		t.Errorf("mismatches not reported: %v", err)
	}
	if len(reports) != 1 {
		t.Errorf("reports %v", reports)
	}
}

func TestMaxAbs(t *testing.T) {
	if d := MaxAbs([]float32{1, -2, 3}, []float32{1.5, -2, 2}); d != 1 {
		t.Errorf("MaxAbs = %v, want 1", d)
	}
	if d := MaxAbs([]float64{1}, []float64{1, 2}); !math.IsInf(d, 1) {
		t.Errorf("length mismatch: %v, want +Inf", d)
	}
	if d := MaxAbs([]float32{0, float32(math.NaN())}, []float32{5, 0}); !math.IsInf(d, 1) {
		t.Errorf("NaN: %v, want +Inf", d)
	}
}
