//go:build cgo

package backend

import (
	"testing"

	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/go-xla/compute/xla"
)

// TestNoAutoInstallVariable checks that the variable this package sets is the one both engines read.
func TestNoAutoInstallVariable(t *testing.T) {
	if onnxbackend.NoAutoInstallEnv != noAutoInstallEnv || xla.NoAutoInstallEnv != noAutoInstallEnv {
		t.Errorf("engines read %q (onnx) and %q (xla), this package sets %q", onnxbackend.NoAutoInstallEnv,
			xla.NoAutoInstallEnv, noAutoInstallEnv)
	}
}
