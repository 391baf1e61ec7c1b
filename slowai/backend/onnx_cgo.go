//go:build cgo

package backend

import (
	"path/filepath"

	_ "github.com/gomlx/compute-onnx" // registers the "onnx" engine.
	"github.com/gomlx/compute-onnx/support/onnxruntime"
)

// onnxDefaultLibrary is where compute-onnx installs the ONNX Runtime library.
func onnxDefaultLibrary() (string, error) {
	dir, err := onnxruntime.GetInstallPath()
	if err != nil {
		return "", err
	}
	lib, err := onnxruntime.GetLibFilename()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, lib), nil
}
