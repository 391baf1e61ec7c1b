package tensor

import (
	"fmt"
	"slices"
)

// Tensor is an n-dimensional array stored row-major (last axis fastest) in one flat slice,
// what NumPy and PyTorch call a contiguous tensor. A scalar has an empty Shape and one value.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor wraps data (not copied) with the given shape; it checks the length.
func NewTensor(data []float32, shape ...int) (*Tensor, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("tensor.NewTensor: negative dimension in shape %v", shape)
		}
		n *= d
	}
	if len(data) != n {
		return nil, fmt.Errorf("tensor.NewTensor: %d values cannot have shape %v (needs %d)", len(data), shape, n)
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}, nil
}

// Reshape returns a view of t with another shape holding the same number of values.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) { return NewTensor(t.Data, shape...) }

// strides returns how far apart, in Data, consecutive indices of each axis are.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	step := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = step
		step *= shape[i]
	}
	return s
}

// BroadcastShape applies NumPy's broadcasting rule: line the shapes up on the right (a
// missing leading axis counts as size 1); two sizes are compatible if they are equal or one
// of them is 1, and the result takes the larger.
func BroadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 1; i <= n; i++ {
		da, db := 1, 1
		if i <= len(a) {
			da = a[len(a)-i]
		}
		if i <= len(b) {
			db = b[len(b)-i]
		}
		switch {
		case da == db || db == 1:
			out[n-i] = da
		case da == 1:
			out[n-i] = db
		default:
			return nil, fmt.Errorf("tensor: shapes %v and %v do not broadcast: size %d against %d in axis %d from the right", a, b, da, db, i)
		}
	}
	return out, nil
}

// broadcastStrides returns the strides that read a tensor of shape `shape` as if it had
// shape `out`: an axis of size 1 (or a missing leading axis) gets stride 0, so the same
// value is read again and again. Nothing is copied; this is the whole trick.
func broadcastStrides(shape, out []int) []int {
	s := strides(shape)
	bs := make([]int, len(out))
	off := len(out) - len(shape)
	for i := range shape {
		if shape[i] != 1 {
			bs[off+i] = s[i]
		}
	}
	return bs
}

// Zip combines a and b element by element with f after broadcasting them to a common shape.
func Zip(a, b *Tensor, f func(x, y float32) float32) (*Tensor, error) {
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	sa, sb := broadcastStrides(a.Shape, shape), broadcastStrides(b.Shape, shape)
	out := &Tensor{Shape: shape, Data: make([]float32, size(shape))}
	idx := make([]int, len(shape)) // the output index, counted like an odometer
	ia, ib := 0, 0                 // the matching offsets into a.Data and b.Data
	for o := range out.Data {
		out.Data[o] = f(a.Data[ia], b.Data[ib])
		for ax := len(shape) - 1; ax >= 0; ax-- {
			idx[ax]++
			ia += sa[ax]
			ib += sb[ax]
			if idx[ax] < shape[ax] {
				break
			}
			ia -= sa[ax] * shape[ax]
			ib -= sb[ax] * shape[ax]
			idx[ax] = 0
		}
	}
	return out, nil
}

// size is the number of values a shape holds.
func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Add, Sub and Mul are Zip with +, - and ×.
func Add(a, b *Tensor) (*Tensor, error) {
	return Zip(a, b, func(x, y float32) float32 { return x + y })
}
func Sub(a, b *Tensor) (*Tensor, error) {
	return Zip(a, b, func(x, y float32) float32 { return x - y })
}
func Mul(a, b *Tensor) (*Tensor, error) {
	return Zip(a, b, func(x, y float32) float32 { return x * y })
}

// Map applies f to every value of t, returning a new tensor of the same shape.
func Map(t *Tensor, f func(float32) float32) *Tensor {
	out := &Tensor{Shape: slices.Clone(t.Shape), Data: make([]float32, len(t.Data))}
	for i, v := range t.Data {
		out.Data[i] = f(v)
	}
	return out
}

// Sum adds t up along axis, removing that axis from the shape.
func Sum(t *Tensor, axis int) (*Tensor, error) {
	if axis < 0 || axis >= len(t.Shape) {
		return nil, fmt.Errorf("tensor.Sum: axis %d out of range for shape %v", axis, t.Shape)
	}
	outer, n, inner := size(t.Shape[:axis]), t.Shape[axis], size(t.Shape[axis+1:])
	out := &Tensor{Shape: slices.Delete(slices.Clone(t.Shape), axis, axis+1), Data: make([]float32, outer*inner)}
	for o := 0; o < outer; o++ {
		for k := 0; k < n; k++ {
			row := t.Data[(o*n+k)*inner : (o*n+k+1)*inner]
			dst := out.Data[o*inner : (o+1)*inner]
			for i, v := range row {
				dst[i] += v
			}
		}
	}
	return out, nil
}
