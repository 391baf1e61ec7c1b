package backend

import (
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
)

// DotGeneral implements compute.StandardOps.
//
// ONNX Runtime's engine maps a DotGeneral to MatMul only when the left operand contracts its last axis and
// the right one its next-to-last; every other layout (the gradients of every matrix product, x^T·g and
// g·W^T, among them) becomes an Einsum node, slower (by about 10% over a whole W1 step). With
// fixes.dotAsMatMul every
// DotGeneral is brought to that layout first: transpose each operand to (batch, free, contracting) /
// (batch, contracting, free), flatten to [B, M, K] x [B, K, N] (or [M, K] x [K, N] without batch axes),
// multiply, and reshape to DotGeneral's output layout (batch, lhs free, rhs free).
func (f *function) DotGeneral(lhs compute.Value, lhsContracting, lhsBatch []int, rhs compute.Value,
	rhsContracting, rhsBatch []int, config compute.DotGeneralConfig,
) (compute.Value, error) {
	if fix := f.b.be.fix; (!fix.dotAsMatMul && !fix.composeAll) || (len(lhsContracting) == 0 && len(lhsBatch) == 0) ||
		!f.static(lhs, rhs) {
		return f.Function.DotGeneral(lhs, lhsContracting, lhsBatch, rhs, rhsContracting, rhsBatch, config)
	}
	return compose("DotGeneral", func() compute.Value {
		ls, rs := f.shapeOf(lhs), f.shapeOf(rhs)
		lFree := freeAxes(ls.Rank(), lhsContracting, lhsBatch)
		rFree := freeAxes(rs.Rank(), rhsContracting, rhsBatch)
		prod := func(dims []int, axes []int) int {
			n := 1
			for _, a := range axes {
				n *= dims[a]
			}
			return n
		}
		b := prod(ls.Dimensions, lhsBatch)
		m, k := prod(ls.Dimensions, lFree), prod(ls.Dimensions, lhsContracting)
		n := prod(rs.Dimensions, rFree)
		l := f.transposeTo(lhs, concat(lhsBatch, lFree, lhsContracting))
		r := f.transposeTo(rhs, concat(rhsBatch, rhsContracting, rFree))
		var out compute.Value
		if len(lhsBatch) == 0 {
			l = must(f.Reshape(l, m, k))
			r = must(f.Reshape(r, k, n))
			out = must(f.Function.DotGeneral(l, []int{1}, nil, r, []int{0}, nil, config))
		} else {
			l = must(f.Reshape(l, b, m, k))
			r = must(f.Reshape(r, b, k, n))
			out = must(f.Function.DotGeneral(l, []int{2}, []int{0}, r, []int{1}, []int{0}, config))
		}
		dims := make([]int, 0, len(lhsBatch)+len(lFree)+len(rFree))
		for _, a := range concat(lhsBatch, lFree) {
			dims = append(dims, ls.Dimensions[a])
		}
		for _, a := range rFree {
			dims = append(dims, rs.Dimensions[a])
		}
		return must(f.Reshape(out, dims...))
	})
}

// static reports whether the values' shapes are all known: the rewrites that only speed things up are
// skipped for dynamic axes, whose sizes they would need.
func (f *function) static(values ...compute.Value) bool {
	for _, v := range values {
		s, err := f.Shape(v)
		if err != nil || slices.Contains(s.Dimensions, shapes.DynamicDim) {
			return false
		}
	}
	return true
}

// freeAxes lists the axes of a rank-r operand that are neither contracted nor batch axes, in order.
func freeAxes(rank int, contracting, batch []int) []int {
	var free []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			free = append(free, a)
		}
	}
	return free
}

func concat(parts ...[]int) []int {
	var all []int
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// Reshape implements compute.StandardOps; see fixes.scalarReshape.
func (f *function) Reshape(x compute.Value, dims ...int) (compute.Value, error) {
	if len(dims) == 0 && (f.b.be.fix.scalarReshape || f.b.be.fix.composeAll) {
		if s, err := f.Shape(x); err == nil && s.Rank() > 0 && s.Size() == 1 && s.DType.IsFloat() {
			return f.ReduceSum(x, allAxes(s.Rank())...)
		}
	}
	return f.Function.Reshape(x, dims...)
}

func allAxes(n int) []int {
	axes := make([]int, n)
	for i := range axes {
		axes[i] = i
	}
	return axes
}

// transposeTo permutes x's axes into the given order, doing nothing if it is already in order.
func (f *function) transposeTo(x compute.Value, order []int) compute.Value {
	for i, a := range order {
		if i != a {
			return must(f.Transpose(x, order...))
		}
	}
	return x
}
