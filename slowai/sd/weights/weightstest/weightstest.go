// Package weightstest holds the test and benchmark scaffolding the model packages (clip, vae,
// unet) share: the backends to check on, the golden-comparison loop, and random full-size models.
package weightstest

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// Backends returns the go backend and, when its library loads, onnx.
func Backends(t testing.TB) map[string]compute.Backend {
	t.Helper()
	out := map[string]compute.Backend{"go": GoBackend(t)}
	if be, err := tryBackend("onnx"); err == nil {
		out["onnx"] = be
	} else {
		t.Logf("onnx backend unavailable, skipped: %v", err)
	}
	return out
}

// tryBackend turns a panic from a backend that cannot start into an error.
func tryBackend(name string) (be compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return backend.NewNamed(name)
}

// GoBackend returns the pure-Go backend, which always starts.
func GoBackend(t testing.TB) compute.Backend {
	t.Helper()
	be, err := backend.NewNamed("go")
	if err != nil {
		t.Fatalf("go backend: %v", err)
	}
	return be
}

// Golden runs a package's CheckGolden on every backend of Backends as a subtest, logging each
// comparison, and requires that it passes and compares exactly want tensors.
func Golden(t *testing.T, want int, check func(be compute.Backend, report weights.ReportFunc) error) {
	for name, be := range Backends(t) {
		t.Run(name, func(t *testing.T) {
			n := 0
			err := check(be, func(tensor string, maxErr, tol float64, pass bool) {
				n++
				t.Logf("%-28s max|err| %.2e (tol %.0e) pass=%v", tensor, maxErr, tol, pass)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("compared %d tensors, want %d", n, want)
			}
		})
	}
}

// MaxDiff is the largest |got - want| (see weights.MaxAbsDiff); a shape mismatch fails the test.
func MaxDiff(t testing.TB, got *tensors.Tensor, want []float32, wantShape []int) float64 {
	t.Helper()
	g, shape := weights.Float32s(got)
	d, err := weights.MaxAbsDiff(g, shape, want, wantShape)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Random builds a full-size model from cfg with seed-1 random weights on backend.New's backend
// (SLOWAI_BACKEND picks it), for benchmarks without a checkpoint.
func Random[C, M any](b testing.TB, cfg C, newRandom func(C, compute.Backend, uint64) (M, error)) M {
	b.Helper()
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	m, err := newRandom(cfg, be, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// Loop runs step once outside the timing (compiling its graph), then for every b.Loop iteration;
// any error fails the benchmark.
func Loop(b *testing.B, step func() error) {
	b.Helper()
	if err := step(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
}
