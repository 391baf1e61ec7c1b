//go:build cgo

package backend

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx" // also registers the "onnx" engine.
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

// EnvDumpONNX names a directory into which every graph compiled on the onnx engine is saved as an ONNX
// model (NNN_name.onnx), for profiling it outside Go, e.g. with ONNX Runtime's own profiler.
const EnvDumpONNX = "SLOWAI_ONNX_DUMP"

var dumpCount atomic.Int64

// keepONNXModels makes an onnx engine keep its models when EnvDumpONNX is set.
func keepONNXModels(inner compute.Backend) {
	if ob, ok := inner.(*onnxbackend.Backend); ok && os.Getenv(EnvDumpONNX) != "" {
		ob.SetKeepModelProto(true)
	}
}

// dumpONNX saves a compiled graph's model when EnvDumpONNX is set; failures are printed, not returned,
// since the dump is a debugging aid.
func dumpONNX(inner compute.Backend, exec compute.Executable, name string) {
	dir := os.Getenv(EnvDumpONNX)
	if _, ok := inner.(*onnxbackend.Backend); !ok || dir == "" {
		return
	}
	safe := []rune(strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' {
			return r
		}
		return '_'
	}, name))
	safe = safe[max(0, len(safe)-60):] // the end of a GoMLX graph name says most.
	path := filepath.Join(dir, fmt.Sprintf("%03d_%s.onnx", dumpCount.Add(1), string(safe)))
	var buf bytes.Buffer
	err := onnxbackend.SaveModel(inner, exec, &buf, nil, nil)
	if err == nil {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slowai/backend: %s: %v\n", EnvDumpONNX, err)
	}
}
