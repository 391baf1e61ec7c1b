package backend

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
)

// SelectAndScatterMax implements compute.StandardOps: the gradient of MaxPool, which routes each window's
// incoming gradient to the element holding the window's maximum.
//
// ONNX Runtime's version scatters without accumulating, so with overlapping windows (3x3 windows at stride
// 2, say) an element that is the maximum of two windows receives only one of the gradients. Where that can
// happen (fixes.selectScatterOverlap), it is composed instead: for each position in the window, the
// elements that are the window's first maximum get the window's gradient, placed back on the input grid
// with an interior Pad, and the placements are summed.
func (f *function) SelectAndScatterMax(operand, source compute.Value, window, strides []int, paddings [][2]int,
) (compute.Value, error) {
	fix := f.b.be.fix
	plain := !overlapping(window, strides) && !nonZeroPadding(paddings) && f.dtypeOf(operand) == dtypes.Float32
	if !fix.composeAll && (!fix.selectScatterOverlap || plain) {
		v, err := f.Function.SelectAndScatterMax(operand, source, window, strides, paddings)
		if !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("SelectAndScatterMax", func() compute.Value {
		return f.selectAndScatterComposed(operand, source, window, strides, paddings)
	})
}

// overlapping reports whether consecutive windows share elements on some axis.
func overlapping(window, strides []int) bool {
	if len(strides) == 0 {
		return false // strides default to the window.
	}
	for i, w := range window {
		if strides[i] < w {
			return true
		}
	}
	return false
}

func (f *function) selectAndScatterComposed(operand, source compute.Value, window, strides []int,
	paddings [][2]int,
) compute.Value {
	if len(strides) == 0 {
		strides = window
	}
	padded := f.padForWindow(operand, compute.ReduceOpMax, nil, paddings)
	ps := f.shapeOf(padded)
	rank := ps.Rank()
	ss := f.shapeOf(source)
	best := must(f.ReduceWindow(padded, compute.ReduceOpMax, window, strides, nil, nil, nil))
	zeros := f.fill(f.scalar(ss.DType, 0), ss)
	zero := f.scalar(ss.DType, 0)
	var taken, acc compute.Value
	pos := make([]int, rank)
	for {
		starts, limits := make([]int, rank), make([]int, rank)
		place := make([]compute.PadAxis, rank)
		for i := range rank {
			starts[i] = pos[i]
			limits[i] = starts[i] + (ss.Dimensions[i]-1)*strides[i] + 1
			place[i] = compute.PadAxis{Start: starts[i], End: ps.Dimensions[i] - limits[i], Interior: strides[i] - 1}
		}
		part := must(f.Slice(padded, starts, limits, strides))
		hit := must(f.Equal(part, best))
		if taken == nil {
			taken = hit
		} else {
			hit = must(f.LogicalAnd(hit, must(f.LogicalNot(taken))))
			taken = must(f.LogicalOr(taken, hit))
		}
		placed := must(f.Pad(must(f.Where(hit, source, zeros)), zero, place...))
		if acc == nil {
			acc = placed
		} else {
			acc = must(f.Add(acc, placed))
		}
		if !nextOffset(pos, window) {
			break
		}
	}
	if nonZeroPadding(paddings) {
		unpad := make([]compute.PadAxis, rank)
		for i, p := range paddings {
			unpad[i] = compute.PadAxis{Start: -p[0], End: -p[1]}
		}
		acc = must(f.Pad(acc, zero, unpad...))
	}
	return acc
}

// int64Indices converts scatter indices to int64 where the engine needs it (fixes.scatterInt64).
func (f *function) int64Indices(indices compute.Value) (compute.Value, error) {
	if !f.b.be.fix.scatterInt64 {
		return indices, nil
	}
	s, err := f.Shape(indices)
	if err != nil || s.DType == dtypes.Int64 {
		return indices, err
	}
	return f.ConvertDType(indices, dtypes.Int64)
}

// ScatterSum implements compute.StandardOps; it is the gradient of Gather (embeddings).
func (f *function) ScatterSum(operand, indices, updates compute.Value, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, sorted, unique bool,
) (compute.Value, error) {
	indices, err := f.int64Indices(indices)
	if err != nil {
		return nil, err
	}
	return f.Function.ScatterSum(operand, indices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes,
		scatterAxesToOperandAxes, sorted, unique)
}

// ScatterMax implements compute.StandardOps.
func (f *function) ScatterMax(operand, indices, updates compute.Value, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, sorted, unique bool,
) (compute.Value, error) {
	indices, err := f.int64Indices(indices)
	if err != nil {
		return nil, err
	}
	return f.Function.ScatterMax(operand, indices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes,
		scatterAxesToOperandAxes, sorted, unique)
}

// ScatterMin implements compute.StandardOps.
func (f *function) ScatterMin(operand, indices, updates compute.Value, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, sorted, unique bool,
) (compute.Value, error) {
	indices, err := f.int64Indices(indices)
	if err != nil {
		return nil, err
	}
	return f.Function.ScatterMin(operand, indices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes,
		scatterAxesToOperandAxes, sorted, unique)
}
