package tensor

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Engine multiplies matrices on a GoMLX backend (see slowai/backend). The product is
// compiled on first use for each pair of shapes and reused after, so time a second call to
// see the engine's speed rather than its compiler's.
type Engine struct {
	be   compute.Backend
	exec *graph.Exec
}

// NewEngine prepares the product on be.
func NewEngine(be compute.Backend) (*Engine, error) {
	exec, err := graph.NewExec(be, func(a, b *graph.Node) *graph.Node { return graph.MatMul(a, b) })
	if err != nil {
		return nil, fmt.Errorf("tensor.NewEngine: %w", err)
	}
	return &Engine{be: be, exec: exec}, nil
}

// Resident is a matrix already copied into the engine's memory. Copying in can cost far
// more than the product itself, so data used again and again is uploaded once.
type Resident struct {
	Rows, Cols int
	t          *tensors.Tensor
}

// Upload copies m into the engine.
func (e *Engine) Upload(m *Matrix) (*Resident, error) {
	t := tensors.FromFlatDataAndDimensions(m.Data, m.Rows, m.Cols)
	if err := t.MaterializeOnDevice(e.be, false, 0); err != nil {
		return nil, fmt.Errorf("tensor.Engine.Upload %d×%d: %w", m.Rows, m.Cols, err)
	}
	return &Resident{Rows: m.Rows, Cols: m.Cols, t: t}, nil
}

// MatMul returns a·b computed by the engine: both are copied in, multiplied, and the
// product copied back.
func (e *Engine) MatMul(a, b *Matrix) (*Matrix, error) {
	if a.Cols != b.Rows {
		return nil, fmt.Errorf("tensor.Engine.MatMul: cannot multiply %d×%d by %d×%d (inner sizes differ)", a.Rows, a.Cols, b.Rows, b.Cols)
	}
	ra, err := e.Upload(a)
	if err != nil {
		return nil, err
	}
	defer ra.t.FinalizeAll()
	rb, err := e.Upload(b)
	if err != nil {
		return nil, err
	}
	defer rb.t.FinalizeAll()
	return e.MatMulResident(ra, rb)
}

// MatMulResident returns a·b for matrices already in the engine; only the product is
// copied back.
func (e *Engine) MatMulResident(a, b *Resident) (*Matrix, error) {
	if a.Cols != b.Rows {
		return nil, fmt.Errorf("tensor.Engine.MatMulResident: cannot multiply %d×%d by %d×%d (inner sizes differ)", a.Rows, a.Cols, b.Rows, b.Cols)
	}
	out, err := e.exec.Call(a.t, b.t)
	if err != nil {
		return nil, fmt.Errorf("tensor.Engine.MatMul: %w", err)
	}
	defer out[0].FinalizeAll()
	flat, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return nil, fmt.Errorf("tensor.Engine.MatMul: %w", err)
	}
	return FromSlice(a.Rows, b.Cols, flat)
}
