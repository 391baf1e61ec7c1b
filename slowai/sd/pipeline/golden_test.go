package pipeline

import (
	"testing"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/backend"
)

// tinyDir is the golden layout of the tiny random models, assembled from the component
// packages' testdata by symlinks plus this package's pipeline/ recording.
const tinyDir = "testdata/tiny"

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	be, err := backend.NewNamed("go")
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// TestGolden reruns the recorded diffusers call end to end from its initial latents and
// compares every recorded tensor.
func TestGolden(t *testing.T) {
	n := 0
	err := CheckGolden(tinyDir, goBackend(t), func(name string, d, tol float64, pass bool) {
		n++
		t.Logf("%-24s max|err| %.2e (tol %.0e) pass=%v", name, d, tol, pass)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 15 {
		t.Errorf("compared %d tensors, want 15", n)
	}
}
