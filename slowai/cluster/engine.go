package cluster

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/tensor"
)

// Distances says how the engine's graph computes the squared distances between points.
type Distances int

const (
	// Broadcast subtracts (b,1,2) - (1,n,2) and sums the squares: ShiftBroadcast's way,
	// which makes a (b,n,2) array.
	Broadcast Distances = iota
	// Expand uses ‖p-q‖² = ‖p‖² + ‖q‖² - 2 p·q: the cross terms of a whole batch are one
	// matrix product, and no (b,n,2) array is made.
	Expand
)

// Shifter runs mean shift steps on a GoMLX engine: the same arithmetic as ShiftBroadcast,
// one graph per step, compiled on the first call for each number of points.
type Shifter struct {
	exec *graph.Exec
}

// NewShifter compiles nothing yet; bw is the kernel's bandwidth, batch how many points
// each block of the graph moves at once (the blocks are unrolled into the one graph) and
// dist how the distances are computed.
func NewShifter(be compute.Backend, bw float32, batch int, dist Distances) (*Shifter, error) {
	if batch <= 0 || bw <= 0 {
		return nil, fmt.Errorf("cluster.NewShifter: bandwidth %g and batch %d, want both > 0", bw, batch)
	}
	fn := shiftGraph
	switch dist {
	case Broadcast:
	case Expand:
		fn = shiftGraphExpand
	default:
		return nil, fmt.Errorf("cluster.NewShifter: unknown Distances %d, want Broadcast or Expand", dist)
	}
	exec, err := graph.NewExec(be, func(x *graph.Node) *graph.Node { return fn(x, bw, batch) })
	if err != nil {
		return nil, fmt.Errorf("cluster.NewShifter: %w", err)
	}
	return &Shifter{exec: exec}, nil
}

// shiftGraph moves every row of x (n×2) to its kernel-weighted average of all rows, batch
// rows at a time: the same steps as ShiftBroadcast, as graph nodes.
func shiftGraph(x *graph.Node, bw float32, batch int) *graph.Node {
	n := x.Shape().Dimensions[0]
	var parts []*graph.Node
	for lo := 0; lo < n; lo += batch {
		xb := graph.Slice(x, graph.AxisRange(lo, min(lo+batch, n)))        // (b,2)
		diff := graph.Sub(graph.InsertAxes(xb, 1), graph.InsertAxes(x, 0)) // (b,1,2)-(1,n,2) -> (b,n,2)
		d2 := graph.ReduceSum(graph.Square(diff), -1)                      // (b,n)
		w := graph.MulScalar(graph.Exp(graph.MulScalar(d2, -0.5/float64(bw*bw))), 1/(float64(bw)*math.Sqrt(2*math.Pi)))
		num := graph.MatMul(w, x)                           // (b,2)
		den := graph.InsertAxes(graph.ReduceSum(w, -1), -1) // (b,1)
		parts = append(parts, graph.Div(num, den))
	}
	return graph.Concatenate(parts, 0)
}

// shiftGraphExpand is shiftGraph with the squared distances expanded into
// ‖p‖² + ‖q‖² - 2 p·q, so the batch's cross terms are one matrix product; rounding can make
// a tiny distance negative, hence the clamp at 0.
func shiftGraphExpand(x *graph.Node, bw float32, batch int) *graph.Node {
	n := x.Shape().Dimensions[0]
	sq := graph.ReduceSum(graph.Square(x), -1) // (n): ‖q‖² for every point
	var parts []*graph.Node
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		xb := graph.Slice(x, graph.AxisRange(lo, hi))                                      // (b,2)
		cross := graph.MatMul(xb, graph.Transpose(x, 0, 1))                                // (b,n): p·q
		pp := graph.InsertAxes(graph.Slice(sq, graph.AxisRange(lo, hi)), -1)               // (b,1)
		d2 := graph.Sub(graph.Add(pp, graph.InsertAxes(sq, 0)), graph.MulScalar(cross, 2)) // (b,n)
		d2 = graph.Max(d2, graph.ZerosLike(d2))
		w := graph.MulScalar(graph.Exp(graph.MulScalar(d2, -0.5/float64(bw*bw))), 1/(float64(bw)*math.Sqrt(2*math.Pi)))
		parts = append(parts, graph.Div(graph.MatMul(w, x), graph.InsertAxes(graph.ReduceSum(w, -1), -1)))
	}
	return graph.Concatenate(parts, 0)
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
