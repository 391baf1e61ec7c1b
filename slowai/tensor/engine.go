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
	exec *graph.Exec
}

// NewEngine prepares the product on be.
func NewEngine(be compute.Backend) (*Engine, error) {
	exec, err := graph.NewExec(be, func(a, b *graph.Node) *graph.Node { return graph.MatMul(a, b) })
	if err != nil {
		return nil, fmt.Errorf("tensor.NewEngine: %w", err)
	}
	return &Engine{exec: exec}, nil
}

// MatMul returns a·b computed by the engine, copied back into a Matrix.
func (e *Engine) MatMul(a, b *Matrix) (*Matrix, error) {
	if a.Cols != b.Rows {
		return nil, fmt.Errorf("tensor.Engine.MatMul: cannot multiply %d×%d by %d×%d (inner sizes differ)", a.Rows, a.Cols, b.Rows, b.Cols)
	}
	out, err := e.exec.Call(tensors.FromFlatDataAndDimensions(a.Data, a.Rows, a.Cols),
		tensors.FromFlatDataAndDimensions(b.Data, b.Rows, b.Cols))
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
