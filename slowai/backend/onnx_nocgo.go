//go:build !cgo

package backend

import (
	"errors"

	"github.com/gomlx/compute"
)

// onnxDefaultLibrary always fails: compute-onnx calls ONNX Runtime through cgo.
func onnxDefaultLibrary() (string, error) {
	return "", errors.New("built without cgo, which ONNX Runtime needs")
}

// pruneDeadONNX does nothing without the ONNX engine.
func pruneDeadONNX(compute.Builder) (int, bool) { return 0, false }

func keepONNXModels(compute.Backend) {}

func dumpONNX(compute.Backend, compute.Executable, string) {}

// simplifyONNX does nothing without the ONNX engine.
func simplifyONNX(compute.Builder) (int, bool) { return 0, false }
