// Package nntest is the test scaffolding of slowai/nn's tests: the backends its
// checks run on, with the dtype and finite-difference settings suited to each, and small tensor
// helpers.
package nntest

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
)

// Case is one backend under test with the float dtype its checks run in: float64 where the
// backend supports every op in them (go), float32 otherwise (ONNX Runtime's CPU Conv and Erf are
// float32-only).
type Case struct {
	Name    string
	Backend compute.Backend
	DType   dtypes.DType
}

// FD returns the finite-difference step and the gradient tolerance suited to the case's dtype.
func (c Case) FD() (eps, tol float64) {
	if c.DType == dtypes.Float64 {
		return 1e-6, 1e-6
	}
	return 1e-2, 2e-2
}

// FwdTol is the forward-check tolerance for the case's dtype.
func (c Case) FwdTol() float64 {
	if c.DType == dtypes.Float64 {
		return 1e-10
	}
	return 2e-5
}

var (
	once  sync.Once
	cases []Case
	skips []string
)

// ForEachBackend runs fn as a subtest on "go" and, when its library loads, "onnx". The backends
// start once per test binary.
func ForEachBackend(t *testing.T, fn func(t *testing.T, c Case)) {
	t.Helper()
	once.Do(func() {
		for _, n := range []struct {
			name  string
			dtype dtypes.DType
		}{{"go", dtypes.Float64}, {"onnx", dtypes.Float32}} {
			be, err := backend.NewNamed(n.name)
			if err != nil {
				skips = append(skips, n.name+": "+err.Error())
				continue
			}
			cases = append(cases, Case{n.name, be, n.dtype})
		}
	})
	for _, s := range skips {
		t.Logf("backend skipped: %s", s)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { fn(t, c) })
	}
}

// Normal returns n standard normal values from the PCG generator (seed, stream), so every run
// draws the same data.
func Normal(seed, stream uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, stream))
	d := make([]float64, n)
	for i := range d {
		d[i] = r.NormFloat64()
	}
	return d
}

// Size is the number of elements of a tensor with these dimensions.
func Size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// Flat copies a float32 or float64 tensor's values as float64.
func Flat(t *tensors.Tensor) []float64 {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		d := make([]float64, len(f))
		for i, v := range f {
			d[i] = float64(v)
		}
		return d
	}
	panic("flat: unsupported dtype " + t.DType().String())
}

// Directional scales dir to unit length in place and returns dir·grad: the derivative along dir
// that a finite difference along dir should match.
func Directional(dir, grad []float64) float64 {
	norm := 0.0
	for _, v := range dir {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	d := 0.0
	for i := range dir {
		dir[i] /= norm
		d += dir[i] * grad[i]
	}
	return d
}
