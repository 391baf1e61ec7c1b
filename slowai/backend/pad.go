package backend

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapeinference"
	"github.com/gomlx/compute/shapes"
)

// Pad implements compute.StandardOps.
//
// GoMLX uses Pad with negative amounts (slicing) and interior amounts (dilation) in the gradients of Slice,
// strided Slice and pooling, so every form must work. Where the engine lacks Pad, or is known to fail on the
// form asked for, it is built from Slice, Reshape, BroadcastInDim and Concatenate.
func (f *function) Pad(x, fill compute.Value, cfg ...compute.PadAxis) (compute.Value, error) {
	fix := f.b.be.fix
	if !fix.composeAll && !(fix.padNegative && negativePad(cfg)) {
		v, err := f.Function.Pad(x, fill, cfg...)
		if !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("Pad", func() compute.Value { return f.padComposed(x, fill, cfg) })
}

// negativePad reports whether cfg removes elements at some edge.
func negativePad(cfg []compute.PadAxis) bool {
	for _, c := range cfg {
		if c.Start < 0 || c.End < 0 {
			return true
		}
	}
	return false
}

// padComposed pads each axis in turn, following XLA's order: interior fill first, then the edges, where a
// negative edge amount removes elements from the (already dilated) axis.
func (f *function) padComposed(x, fill compute.Value, cfg []compute.PadAxis) compute.Value {
	xs := f.shapeOf(x)
	want, err := shapeinference.Pad(xs, cfg...)
	check(err)
	if fs := f.shapeOf(fill); fs.Rank() != 0 || fs.DType != xs.DType {
		check(fmt.Errorf("fill value must be a scalar of dtype %s, got %s", xs.DType, fs))
	}
	cur := x
	for axis, c := range cfg {
		if c.Interior > 0 {
			cur = f.dilate(cur, fill, axis, c.Interior)
		}
		cur = f.crop(cur, axis, max(-c.Start, 0), max(-c.End, 0))
		cur = f.padEdges(cur, fill, axis, max(c.Start, 0), max(c.End, 0))
	}
	if got := f.shapeOf(cur); !got.Equal(want) {
		check(fmt.Errorf("internal error: composed Pad of %s with %v gave %s, want %s", xs, cfg, got, want))
	}
	return cur
}

// dilate inserts n copies of fill between consecutive elements along axis.
//
// Each element is given a trailing block of n fill values (a new axis after axis, concatenated), the two
// axes are merged, and the fill after the last element is sliced away.
func (f *function) dilate(x, fill compute.Value, axis, n int) compute.Value {
	s := f.shapeOf(x)
	size := s.Dimensions[axis]
	if size <= 1 {
		return x
	}
	split := make([]int, 0, s.Rank()+1)
	split = append(split, s.Dimensions[:axis+1]...)
	split = append(split, 1)
	split = append(split, s.Dimensions[axis+1:]...)
	y := must(f.Reshape(x, split...))
	split[axis+1] = n
	holes := f.fill(fill, shapes.Make(s.DType, split...))
	y = must(f.Concatenate(axis+1, y, holes))
	merged := s.Clone().Dimensions
	merged[axis] = size * (n + 1)
	y = must(f.Reshape(y, merged...))
	return f.crop(y, axis, 0, n)
}

// crop removes lo elements from the start and hi elements from the end of axis.
func (f *function) crop(x compute.Value, axis, lo, hi int) compute.Value {
	if lo == 0 && hi == 0 {
		return x
	}
	s := f.shapeOf(x)
	starts := make([]int, s.Rank())
	limits := s.Clone().Dimensions
	strides := make([]int, s.Rank())
	for i := range strides {
		strides[i] = 1
	}
	starts[axis] = lo
	limits[axis] -= hi
	if limits[axis] < lo {
		check(fmt.Errorf("cannot remove %d+%d elements from axis %d of %s", lo, hi, axis, s))
	}
	return must(f.Slice(x, starts, limits, strides))
}

// padEdges adds lo copies of fill before and hi copies after the elements of axis.
func (f *function) padEdges(x, fill compute.Value, axis, lo, hi int) compute.Value {
	if lo == 0 && hi == 0 {
		return x
	}
	s := f.shapeOf(x)
	block := func(n int) compute.Value {
		d := s.Clone().Dimensions
		d[axis] = n
		return f.fill(fill, shapes.Make(s.DType, d...))
	}
	parts := make([]compute.Value, 0, 3)
	if lo > 0 {
		parts = append(parts, block(lo))
	}
	if s.Dimensions[axis] > 0 {
		parts = append(parts, x)
	}
	if hi > 0 {
		parts = append(parts, block(hi))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return must(f.Concatenate(axis, parts...))
}
