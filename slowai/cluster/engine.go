package cluster

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/tensor"
)

// Shifter runs mean shift steps on a GoMLX engine: the same arithmetic as ShiftBroadcast,
// one graph per step, compiled on the first call for each number of points.
type Shifter struct {
	exec *Exec
}

// NewShifter compiles nothing yet; bw is the kernel's bandwidth and batch how many points
// each block of the graph moves at once (the blocks are unrolled into the one graph).
func NewShifter(be compute.Backend, bw float32, batch int) (*Shifter, error) {
	if batch <= 0 || bw <= 0 {
		return nil, fmt.Errorf("cluster.NewShifter: bandwidth %g and batch %d, want both > 0", bw, batch)
	}
	exec, err := NewExec(be, func(x *Node) *Node { return shiftGraph(x, bw, batch) })
	if err != nil {
		return nil, fmt.Errorf("cluster.NewShifter: %w", err)
	}
	return &Shifter{exec: exec}, nil
}

// shiftGraph moves every row of x (n×2) to its kernel-weighted average of all rows.
func shiftGraph(x *Node, bw float32, batch int) *Node {
	n := x.Shape().Dimensions[0]
	var parts []*Node
	for lo := 0; lo < n; lo += batch {
		xb := Slice(x, AxisRange(lo, min(lo+batch, n)))  // (b,2)
		diff := Sub(InsertAxes(xb, 1), InsertAxes(x, 0)) // (b,1,2)-(1,n,2) -> (b,n,2)
		d2 := ReduceSum(Square(diff), -1)                // (b,n)
		w := MulScalar(Exp(MulScalar(d2, -0.5/float64(bw*bw))), 1/(float64(bw)*math.Sqrt(2*math.Pi)))
		num := MatMul(w, x)                                               // (b,2)
		parts = append(parts, Div(num, InsertAxes(ReduceSum(w, -1), -1))) // (b,2)/(b,1)
	}
	return Concatenate(parts, 0)
}

// Step returns x after one mean shift step.
func (s *Shifter) Step(x *tensor.Matrix) (*tensor.Matrix, error) {
	if x.Cols != 2 {
		return nil, fmt.Errorf("cluster.Shifter.Step: points are %d×%d, want n×2", x.Rows, x.Cols)
	}
	out, err := s.exec.Call(tensors.FromFlatDataAndDimensions(x.Data, x.Rows, 2))
	if err != nil {
		return nil, fmt.Errorf("cluster.Shifter.Step: %w", err)
	}
	defer out[0].FinalizeAll()
	flat, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return nil, fmt.Errorf("cluster.Shifter.Step: %w", err)
	}
	return tensor.FromSlice(x.Rows, 2, flat)
}
