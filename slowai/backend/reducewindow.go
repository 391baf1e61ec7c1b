package backend

import (
	"fmt"
	"reflect"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapeinference"
)

// ReduceWindow implements compute.StandardOps.
//
// ONNX Runtime has several gaps here: it sums windows with AveragePool times the window size, which leaves
// padding out of the count, so sums over padded windows come out too small (this breaks MeanPool with
// padding and the gradient of every mean or sum pool); its MaxPool refuses padding as large as the window;
// it has no Min or Product reduction, no input dilation, no window dilation for sums, no float64 sums and
// no windows over the batch or channel axes. With fixes.windowPads the padding and input dilation are
// applied to the input first (filled with the reduction's identity), so the engine only sees plain windows;
// anything it still refuses is built from strided slices of the padded input, one per window position,
// combined with the element-wise reduction.
func (f *function) ReduceWindow(x compute.Value, op compute.ReduceOpType, window, strides, inputDilations,
	windowDilations []int, paddings [][2]int,
) (compute.Value, error) {
	fix := f.b.be.fix
	if !fix.composeAll {
		if !fix.windowPads {
			v, err := f.Function.ReduceWindow(x, op, window, strides, inputDilations, windowDilations, paddings)
			if !compute.IsNotImplemented(err) {
				return v, err
			}
		} else if op != compute.ReduceOpSum || (!dilated(windowDilations) && f.dtypeOf(x) == dtypes.Float32) {
			v, err := compose("ReduceWindow", func() compute.Value {
				padded := f.padForWindow(x, op, inputDilations, paddings)
				return must(f.Function.ReduceWindow(padded, op, window, strides, nil, windowDilations, nil))
			})
			if !compute.IsNotImplemented(err) {
				return v, err
			}
		}
	}
	return compose("ReduceWindow", func() compute.Value {
		return f.reduceWindowComposed(x, op, window, strides, inputDilations, windowDilations, paddings)
	})
}

func nonZeroPadding(paddings [][2]int) bool {
	for _, p := range paddings {
		if p != [2]int{} {
			return true
		}
	}
	return false
}

func (f *function) dtypeOf(v compute.Value) dtypes.DType {
	s, err := f.Shape(v)
	if err != nil {
		return dtypes.InvalidDType
	}
	return s.DType
}

// identityOf returns the value that leaves op unchanged, used for padding and dilation holes as XLA does.
func identityOf(op compute.ReduceOpType, dtype dtypes.DType) (any, error) {
	switch op {
	case compute.ReduceOpSum:
		return reflect.Zero(dtype.GoType()).Interface(), nil
	case compute.ReduceOpProduct:
		return reflect.ValueOf(1).Convert(dtype.GoType()).Interface(), nil
	case compute.ReduceOpMax:
		return dtype.LowestValue(), nil
	case compute.ReduceOpMin:
		return dtype.HighestValue(), nil
	}
	return nil, fmt.Errorf("reduction %s is not supported", op)
}

// constant returns a scalar constant holding v, whose Go type selects the dtype.
func (f *function) constant(v any) compute.Value {
	flat := reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(v)), 1, 1)
	flat.Index(0).Set(reflect.ValueOf(v))
	return must(f.Constant(flat.Interface()))
}

// padForWindow applies a window reduction's input dilation and padding to x, filling with op's identity.
func (f *function) padForWindow(x compute.Value, op compute.ReduceOpType, inputDilations []int,
	paddings [][2]int,
) compute.Value {
	if !nonZeroPadding(paddings) && !dilated(inputDilations) {
		return x
	}
	s := f.shapeOf(x)
	id, err := identityOf(op, s.DType)
	check(err)
	cfg := make([]compute.PadAxis, s.Rank())
	for axis := range cfg {
		if len(paddings) > 0 {
			cfg[axis].Start, cfg[axis].End = paddings[axis][0], paddings[axis][1]
		}
		if len(inputDilations) > 0 && inputDilations[axis] > 1 {
			cfg[axis].Interior = inputDilations[axis] - 1
		}
	}
	return must(f.Pad(x, f.constant(id), cfg...))
}

// reduceWindowComposed reduces, for every window position, a strided slice of the padded input.
func (f *function) reduceWindowComposed(x compute.Value, op compute.ReduceOpType, window, strides,
	inputDilations, windowDilations []int, paddings [][2]int,
) compute.Value {
	s := f.shapeOf(x)
	rank := s.Rank()
	want, err := shapeinference.ReduceWindow(s, window, strides, inputDilations, windowDilations, paddings)
	check(err)
	if len(strides) == 0 {
		strides = window
	}
	combine := map[compute.ReduceOpType]func(a, b compute.Value) (compute.Value, error){
		compute.ReduceOpSum:     f.Add,
		compute.ReduceOpProduct: f.Mul,
		compute.ReduceOpMax:     f.Max,
		compute.ReduceOpMin:     f.Min,
	}[op]
	if combine == nil {
		check(fmt.Errorf("reduction %s is not supported", op))
	}
	padded := f.padForWindow(x, op, inputDilations, paddings)
	var acc compute.Value
	pos := make([]int, rank) // window position, a multi-index over window.
	for {
		starts, limits := make([]int, rank), make([]int, rank)
		for i := range rank {
			d := 1
			if len(windowDilations) > 0 {
				d = windowDilations[i]
			}
			starts[i] = pos[i] * d
			limits[i] = starts[i] + (want.Dimensions[i]-1)*strides[i] + 1
		}
		part := must(f.Slice(padded, starts, limits, strides))
		if acc == nil {
			acc = part
		} else {
			acc = must(combine(acc, part))
		}
		if !nextOffset(pos, window) {
			break
		}
	}
	return acc
}

// nextOffset advances pos, a multi-index over window, to the next offset (last axis fastest),
// and reports false once every offset has been visited (pos is then back at zero).
func nextOffset(pos, window []int) bool {
	for i := len(pos) - 1; i >= 0; i-- {
		pos[i]++
		if pos[i] < window[i] {
			return true
		}
		pos[i] = 0
	}
	return false
}
