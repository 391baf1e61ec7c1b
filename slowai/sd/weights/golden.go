package weights

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/safetensors"
)

// ReportFunc receives one golden comparison: the tensor's name, the largest absolute difference
// from the reference, the tolerance and whether it passed.
type ReportFunc func(name string, maxErr, tol float64, pass bool)

// Float32s copies a float32 tensor's values (converting other float types) with its shape.
func Float32s(t *tensors.Tensor) ([]float32, []int) {
	dims := t.Shape().Dimensions
	switch t.DType() {
	case dtypes.Float32:
		return tensors.MustCopyFlatData[float32](t), dims
	case dtypes.Float64:
		d := tensors.MustCopyFlatData[float64](t)
		out := make([]float32, len(d))
		for i, x := range d {
			out[i] = float32(x)
		}
		return out, dims
	}
	panic(fmt.Sprintf("weights.Float32s: tensor of dtype %s", t.DType()))
}

// MaxAbs is the largest |a[i] - b[i]|, or +Inf when the lengths differ or any difference is
// NaN, so that a broken result can never pass a tolerance.
func MaxAbs[T float32 | float64](a, b []T) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

// MaxAbsDiff is MaxAbs for arrays that must also have the same shape.
func MaxAbsDiff(got []float32, gotShape []int, want []float32, wantShape []int) (float64, error) {
	if !slices.Equal(gotShape, wantShape) || len(got) != len(want) {
		return math.Inf(1), fmt.Errorf("shape %v, want %v", gotShape, wantShape)
	}
	return MaxAbs(got, want), nil
}

// Golden compares named results with the tensors of a reference io.safetensors file.
type Golden struct {
	File   *safetensors.File
	Report ReportFunc
	failed []string
}

// OpenGolden opens a reference file; report may be nil.
func OpenGolden(path string, report ReportFunc) (*Golden, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	if report == nil {
		report = func(string, float64, float64, bool) {}
	}
	return &Golden{File: f, Report: report}, nil
}

// Tensor reads a reference input as a GoMLX tensor (float32 or int64).
func (g *Golden) Tensor(name string) (*tensors.Tensor, error) { return g.File.Tensor(name) }

// Has reports whether the reference holds name.
func (g *Golden) Has(name string) bool {
	_, ok := g.File.Info(name)
	return ok
}

// Compare reports got against the reference tensor name with tolerance tol.
func (g *Golden) Compare(name string, got *tensors.Tensor, tol float64) {
	want, wantShape, err := g.File.Float32(name)
	if err != nil {
		g.Report(name, math.Inf(1), tol, false)
		g.failed = append(g.failed, fmt.Sprintf("%s (%v)", name, err))
		return
	}
	data, shape := Float32s(got)
	d, err := MaxAbsDiff(data, shape, want, wantShape)
	pass := err == nil && d <= tol
	g.Report(name, d, tol, pass)
	if !pass {
		why := fmt.Sprintf("max abs error %.3g > %.3g", d, tol)
		if err != nil {
			why = err.Error()
		}
		g.failed = append(g.failed, fmt.Sprintf("%s (%s)", name, why))
	}
}

// CompareFound compares outs[i] with the reference tensor names[i] wherever the reference holds
// that name (debug tensors are recorded for some configurations only).
func (g *Golden) CompareFound(names []string, outs []*tensors.Tensor, tol float64) {
	for i, name := range names {
		if g.Has(name) {
			g.Compare(name, outs[i], tol)
		}
	}
}

// Close releases the file and returns an error listing every failed comparison.
func (g *Golden) Close() error {
	g.File.Close()
	if len(g.failed) > 0 {
		return fmt.Errorf("golden %s: %d mismatch%s: %s", g.File.Path, len(g.failed), map[bool]string{true: "", false: "es"}[len(g.failed) == 1], module.Few(g.failed))
	}
	return nil
}
