package backend

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
)

// This file supplies the smaller ops: each uses the engine's own op unless the engine reports it as not
// implemented (or composeAll is set), and otherwise a short composition of ops every engine has.

// native reports whether to try the engine's op first.
func (f *function) native() bool { return !f.b.be.fix.composeAll }

// Rsqrt implements compute.StandardOps as 1/sqrt(x) where missing (ONNX); layer and batch norms use it.
func (f *function) Rsqrt(x compute.Value) (compute.Value, error) {
	if f.native() {
		if v, err := f.Function.Rsqrt(x); !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("Rsqrt", func() compute.Value {
		s := f.shapeOf(x)
		return must(f.Div(f.fill(f.scalar(s.DType, 1), s), must(f.Sqrt(x))))
	})
}

// Expm1 implements compute.StandardOps where missing (ONNX), keeping full precision near 0 with Kahan's
// trick: expm1(x) = (u-1)·x/log(u) for u = exp(x), with u == 1 handled apart. The trick is used only for
// |x| < 1, where u-1 loses digits; further out u-1 itself is accurate, and the trick would go wrong where
// exp underflows (u == 0 gives x/log(0) = 0 instead of -1, and a subnormal u an imprecise log: Adam's
// bias correction 1−0.9^t in float32 from t ≈ 980 on), overflows or x is NaN.
func (f *function) Expm1(x compute.Value) (compute.Value, error) {
	if f.native() {
		if v, err := f.Function.Expm1(x); !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("Expm1", func() compute.Value {
		s := f.shapeOf(x)
		one := f.fill(f.scalar(s.DType, 1), s)
		u := must(f.Exp(x))
		um1 := must(f.Sub(u, one))
		r := must(f.Div(must(f.Mul(um1, x)), must(f.Log(u))))
		r = must(f.Where(must(f.Equal(u, one)), x, r))
		return must(f.Where(must(f.LessThan(must(f.Abs(x)), one)), r, um1))
	})
}

// Clamp implements compute.StandardOps as Min(Max(x, lo), hi) where missing (ONNX).
func (f *function) Clamp(lo, x, hi compute.Value) (compute.Value, error) {
	if f.native() {
		if v, err := f.Function.Clamp(lo, x, hi); !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("Clamp", func() compute.Value {
		s := f.shapeOf(x)
		return must(f.Min(must(f.Max(x, f.broadcastTo(lo, s))), f.broadcastTo(hi, s)))
	})
}

// broadcastTo broadcasts a scalar to shape s; other values are returned as they are.
func (f *function) broadcastTo(v compute.Value, s shapes.Shape) compute.Value {
	if f.shapeOf(v).Rank() == 0 && s.Rank() > 0 {
		return f.fill(v, s)
	}
	return v
}

// IsNaN implements compute.StandardOps as x != x where missing (ONNX).
func (f *function) IsNaN(x compute.Value) (compute.Value, error) {
	if f.native() {
		if v, err := f.Function.IsNaN(x); !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("IsNaN", func() compute.Value { return must(f.NotEqual(x, x)) })
}

// IsFinite implements compute.StandardOps where missing (ONNX): x-x is 0 for finite x and NaN otherwise.
func (f *function) IsFinite(x compute.Value) (compute.Value, error) {
	if f.native() {
		if v, err := f.Function.IsFinite(x); !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("IsFinite", func() compute.Value {
		d := must(f.Sub(x, x))
		return must(f.Equal(d, d))
	})
}

// SelectAndScatterMin implements compute.StandardOps where missing (ONNX; it is the gradient of MinPool) as
// SelectAndScatterMax of the negated operand.
func (f *function) SelectAndScatterMin(operand, source compute.Value, window, strides []int,
	paddings [][2]int,
) (compute.Value, error) {
	if f.native() {
		v, err := f.Function.SelectAndScatterMin(operand, source, window, strides, paddings)
		if !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("SelectAndScatterMin", func() compute.Value {
		return must(f.SelectAndScatterMax(must(f.Neg(operand)), source, window, strides, paddings))
	})
}

// OptimizationBarrier implements compute.StandardOps where missing (ONNX) as the identity: the barrier only
// steers optimisation (gradient checkpointing), it never changes values.
func (f *function) OptimizationBarrier(operands ...compute.Value) ([]compute.Value, error) {
	if f.native() {
		vs, err := f.Function.OptimizationBarrier(operands...)
		if !compute.IsNotImplemented(err) {
			return vs, err
		}
	}
	return operands, nil
}

// BatchNormForInference implements compute.StandardOps where missing (Go and ONNX engines):
// (x-mean)·scale/sqrt(variance+ε) + offset, per feature.
func (f *function) BatchNormForInference(operand, scale, offset, mean, variance compute.Value, epsilon float32,
	featureAxis int,
) (compute.Value, error) {
	if f.native() {
		v, err := f.Function.BatchNormForInference(operand, scale, offset, mean, variance, epsilon, featureAxis)
		if !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("BatchNormForInference", func() compute.Value {
		s := f.shapeOf(operand)
		k := must(f.Mul(scale, f.invStd(variance, epsilon)))
		d := must(f.Sub(operand, f.along(mean, s, featureAxis)))
		return must(f.Add(must(f.Mul(d, f.along(k, s, featureAxis))), f.along(offset, s, featureAxis)))
	})
}

// invStd returns 1/sqrt(variance+ε) for a per-feature variance.
func (f *function) invStd(variance compute.Value, epsilon float32) compute.Value {
	vs := f.shapeOf(variance)
	return must(f.Rsqrt(must(f.Add(variance, f.fill(f.scalar(vs.DType, float64(epsilon)), vs)))))
}

// featureMean returns the mean of x over every axis but featureAxis.
func (f *function) featureMean(x compute.Value, featureAxis int) compute.Value {
	s := f.shapeOf(x)
	sum := must(f.ReduceSum(x, otherAxes(s.Rank(), featureAxis)...))
	n := float64(s.Size() / s.Dimensions[featureAxis])
	ss := f.shapeOf(sum)
	return must(f.Mul(sum, f.fill(f.scalar(ss.DType, 1/n), ss)))
}

// BatchNormForTraining implements compute.StandardOps where missing (Go and ONNX engines): it normalises with
// the batch's mean and biased variance and returns those too.
func (f *function) BatchNormForTraining(operand, scale, offset compute.Value, epsilon float32, featureAxis int,
) (compute.Value, compute.Value, compute.Value, error) {
	if f.native() {
		y, m, v, err := f.Function.BatchNormForTraining(operand, scale, offset, epsilon, featureAxis)
		if !compute.IsNotImplemented(err) {
			return y, m, v, err
		}
	}
	vs, err := composeMany("BatchNormForTraining", func() []compute.Value {
		s := f.shapeOf(operand)
		mean := f.featureMean(operand, featureAxis)
		d := must(f.Sub(operand, f.along(mean, s, featureAxis)))
		variance := f.featureMean(must(f.Mul(d, d)), featureAxis)
		k := must(f.Mul(scale, f.invStd(variance, epsilon)))
		y := must(f.Add(must(f.Mul(d, f.along(k, s, featureAxis))), f.along(offset, s, featureAxis)))
		return []compute.Value{y, mean, variance}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return vs[0], vs[1], vs[2], nil
}

// BatchNormGradient implements compute.StandardOps where missing (Go and ONNX engines), with the mean and
// variance taken as functions of the operand (as in training):
//
//	x̂ = (x-mean)/σ, dOffset = Σdy, dScale = Σdy·x̂, dx = scale/(N·σ) · (N·dy - dOffset - x̂·dScale).
func (f *function) BatchNormGradient(operand, scale, mean, variance, gradOutput compute.Value, epsilon float32,
	featureAxis int,
) (compute.Value, compute.Value, compute.Value, error) {
	if f.native() {
		dx, ds, do, err := f.Function.BatchNormGradient(operand, scale, mean, variance, gradOutput, epsilon,
			featureAxis)
		if !compute.IsNotImplemented(err) {
			return dx, ds, do, err
		}
	}
	vs, err := composeMany("BatchNormGradient", func() []compute.Value {
		s := f.shapeOf(operand)
		others := otherAxes(s.Rank(), featureAxis)
		n := float64(s.Size() / s.Dimensions[featureAxis])
		inv := f.invStd(variance, epsilon)
		xhat := must(f.Mul(must(f.Sub(operand, f.along(mean, s, featureAxis))), f.along(inv, s, featureAxis)))
		dOffset := must(f.ReduceSum(gradOutput, others...))
		dScale := must(f.ReduceSum(must(f.Mul(gradOutput, xhat)), others...))
		cs := f.shapeOf(scale)
		k := must(f.Mul(must(f.Mul(scale, inv)), f.fill(f.scalar(cs.DType, 1/n), cs)))
		t := must(f.Mul(gradOutput, f.fill(f.scalar(s.DType, n), s)))
		t = must(f.Sub(t, f.along(dOffset, s, featureAxis)))
		t = must(f.Sub(t, must(f.Mul(xhat, f.along(dScale, s, featureAxis)))))
		dx := must(f.Mul(t, f.along(k, s, featureAxis)))
		return []compute.Value{dx, dScale, dOffset}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return vs[0], vs[1], vs[2], nil
}

// maxConcatRepeat is the largest repeat of the innermost axis that BroadcastInDim builds by concatenation.
const maxConcatRepeat = 8

// BroadcastInDim implements compute.StandardOps. With fixes.innerRepeatAsConcat, a broadcast that
// repeats each innermost element a few times ([.., W, 1] -> [.., W, f], the column repeat of a nearest
// upsampling) is built by concatenating f copies: ONNX Runtime's Expand copies such a tensor element by
// element (42 ms against 3.3 ms for 131072x16x2 floats), and the gradient, a sum over the repeated axis,
// stays a ReduceSum (a gradient of the concatenation itself would be f strided slices, 5x slower). If
// other axes are broadcast too ([.., H, 1, W, 1] -> [.., H, 2, W, 2], the gradient of a 2x2 average
// pool), an Expand then repeats rows of whole innermost blocks, which it copies at memory speed (W7's
// 256x16x14x2x14x2: 19 ms as one Expand).
func (f *function) BroadcastInDim(x compute.Value, outputShape shapes.Shape, broadcastAxes []int) (compute.Value, error) {
	if f.b.be.fix.innerRepeatAsConcat && f.innerRepeat(x, outputShape, broadcastAxes) {
		return compose("BroadcastInDim", func() compute.Value {
			r := outputShape.Rank()
			xs := f.shapeOf(x)
			if xs.Rank() < r {
				x = must(f.Reshape(x, append(xs.Clone().Dimensions, 1)...))
			}
			copies := make([]compute.Value, outputShape.Dimensions[r-1])
			for i := range copies {
				copies[i] = x
			}
			y := must(f.Concatenate(r-1, copies...))
			if ys := f.shapeOf(y); !ys.Equal(outputShape) {
				axes := make([]int, r)
				for i := range axes {
					axes[i] = i
				}
				y = must(f.Function.BroadcastInDim(y, outputShape, axes))
			}
			return y
		})
	}
	return f.Function.BroadcastInDim(x, outputShape, broadcastAxes)
}

// innerRepeat reports whether broadcasting x to outputShape repeats the innermost axis (of size 1, or
// new) 2 to maxConcatRepeat times, every other axis unchanged or broadcast from size 1.
func (f *function) innerRepeat(x compute.Value, outputShape shapes.Shape, broadcastAxes []int) bool {
	xs, err := f.Shape(x)
	r := outputShape.Rank()
	if err != nil || r == 0 || !f.static(x) {
		return false
	}
	last := outputShape.Dimensions[r-1]
	if last < 2 || last > maxConcatRepeat || (xs.Rank() != r && xs.Rank() != r-1) || len(broadcastAxes) != xs.Rank() {
		return false
	}
	for i, a := range broadcastAxes {
		if a != i {
			return false
		}
		if i < r-1 && xs.Dimensions[i] != outputShape.Dimensions[i] && xs.Dimensions[i] != 1 {
			return false
		}
	}
	return xs.Rank() == r-1 || xs.Dimensions[r-1] == 1
}
