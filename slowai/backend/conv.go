package backend

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
)

// ConvGeneral implements compute.StandardOps.
//
// GoMLX computes the input gradient of a strided convolution as a convolution of the input-dilated output
// gradient, which ONNX's Conv cannot express; neither can it take negative padding or batch groups. Those
// are supplied here: dilation and padding (of either sign) become a Pad of the input followed by a plain
// convolution, and batch groups become one convolution per group, concatenated on the output channels.
//
// With fixes.dilatedConvAsTranspose an input-dilated convolution becomes ONNX's ConvTranspose of the
// undilated input instead (convTransposed), which skips the products with the inserted zeros.
//
// Where the engine's own convolution is slow (fixes.convAsDot, fixes.convWideKernelAsDot,
// fixes.convWideKernelGathered) the convolution is computed as a matrix product of gathered windows instead
// (see convAsDot and convGathered).
func (f *function) ConvGeneral(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides []int,
	paddings [][2]int, inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int,
) (compute.Value, error) {
	fix := f.b.be.fix
	if fix.convWideKernelGathered && channelGroupCount <= 1 && batchGroupCount <= 1 && f.static(input, kernel) &&
		f.wideKernel(input, kernel, axes, strides, paddings, inputDilations, kernelDilations) {
		return compose("ConvGeneral", func() compute.Value {
			return f.convGathered(input, kernel, axes, strides, paddings, inputDilations, kernelDilations)
		})
	}
	if fix.dilatedConvAsTranspose && !fix.composeAll && channelGroupCount <= 1 && batchGroupCount <= 1 {
		if ct, ok := f.Function.(convTransposer); ok && f.static(input, kernel) &&
			transposable(f.shapeOf(kernel), axes, strides, paddings, inputDilations, kernelDilations) {
			return compose("ConvGeneral", func() compute.Value {
				return f.convTransposed(ct, input, kernel, axes, paddings, inputDilations)
			})
		}
	}
	asDot := (fix.composeAll || fix.convAsDot || (fix.convWideKernelAsDot && f.wideKernel(input, kernel, axes,
		strides, paddings, inputDilations, kernelDilations))) && f.static(input, kernel)
	if !asDot && !negativePadding(paddings) {
		v, err := f.Function.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
			channelGroupCount, batchGroupCount)
		if !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	return compose("ConvGeneral", func() compute.Value {
		if asDot || negativePadding(paddings) || dilated(inputDilations) {
			input = f.padForConv(input, axes, paddings, inputDilations)
			paddings, inputDilations = nil, nil
		}
		conv := func(x, k compute.Value, groups int) compute.Value {
			if asDot {
				return f.convAsDot(x, k, axes, strides, kernelDilations, groups)
			}
			return must(f.Function.ConvGeneral(x, k, axes, strides, paddings, nil, kernelDilations, groups, 1))
		}
		if batchGroupCount > 1 {
			if !asDot {
				v, err := f.Function.ConvGeneral(input, kernel, axes, strides, paddings, nil, kernelDilations,
					channelGroupCount, batchGroupCount)
				if !compute.IsNotImplemented(err) {
					return must(v, err)
				}
			}
			return f.convBatchGroups(input, kernel, axes, channelGroupCount, batchGroupCount, conv)
		}
		return conv(input, kernel, channelGroupCount)
	})
}

// wideKernel reports whether the convolution has more kernel positions than output positions: the shape
// of the gradient of a convolution with respect to its kernel, where the output gradient plays the kernel.
func (f *function) wideKernel(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides []int,
	paddings [][2]int, inputDilations, kernelDilations []int,
) bool {
	is, err1 := f.Shape(input)
	ks, err2 := f.Shape(kernel)
	if err1 != nil || err2 != nil {
		return false
	}
	g := newConvGeometry(is, ks, axes, strides, paddings, inputDilations, kernelDilations)
	return size(g.win) > size(g.out)
}

// convGeometry is a convolution's arithmetic along each spatial axis, with the defaults (no padding,
// strides and dilations of 1) filled in.
type convGeometry struct {
	in, win, out        []int // input, kernel window and output sizes.
	padLo, padHi        []int
	stride, inDil, kDil []int
}

func newConvGeometry(is, ks shapes.Shape, axes compute.ConvolveAxesConfig, strides []int, paddings [][2]int,
	inputDilations, kernelDilations []int,
) convGeometry {
	n := len(axes.InputSpatial)
	g := convGeometry{in: make([]int, n), win: make([]int, n), out: make([]int, n), padLo: make([]int, n),
		padHi: make([]int, n), stride: make([]int, n), inDil: make([]int, n), kDil: make([]int, n)}
	for i := range n {
		g.in[i] = is.Dimensions[axes.InputSpatial[i]]
		g.win[i] = ks.Dimensions[axes.KernelSpatial[i]]
		g.stride[i], g.inDil[i], g.kDil[i] = orOne(strides, i), orOne(inputDilations, i), orOne(kernelDilations, i)
		if len(paddings) > 0 {
			g.padLo[i], g.padHi[i] = paddings[i][0], paddings[i][1]
		}
		span := (g.in[i]-1)*g.inDil[i] + 1 + g.padLo[i] + g.padHi[i]
		g.out[i] = max((span-((g.win[i]-1)*g.kDil[i]+1))/g.stride[i]+1, 0)
	}
	return g
}

// toOutputLayout transposes a convolution's result y [B, O..., Co] to the output layout axes asks for.
func (f *function) toOutputLayout(y compute.Value, axes compute.ConvolveAxesConfig) compute.Value {
	n := len(axes.OutputSpatial)
	perm := make([]int, n+2)
	perm[axes.OutputBatch] = 0
	for i, a := range axes.OutputSpatial {
		perm[a] = 1 + i
	}
	perm[axes.OutputChannels] = n + 1
	return f.transposeTo(y, perm)
}

func negativePadding(paddings [][2]int) bool {
	for _, p := range paddings {
		if p[0] < 0 || p[1] < 0 {
			return true
		}
	}
	return false
}

// orOne returns list[i], or 1 for an empty list (strides and dilations not given).
func orOne(list []int, i int) int {
	if len(list) > 0 {
		return list[i]
	}
	return 1
}

func dilated(dilations []int) bool {
	for _, d := range dilations {
		if d > 1 {
			return true
		}
	}
	return false
}

// padForConv applies a convolution's input dilation and padding to the input itself, so that the remaining
// convolution has neither.
func (f *function) padForConv(input compute.Value, axes compute.ConvolveAxesConfig, paddings [][2]int,
	inputDilations []int,
) compute.Value {
	s := f.shapeOf(input)
	if len(paddings) > 0 && len(paddings) != len(axes.InputSpatial) {
		check(fmt.Errorf("paddings has %d entries, want one per spatial axis (%d)", len(paddings), len(axes.InputSpatial)))
	}
	if len(inputDilations) > 0 && len(inputDilations) != len(axes.InputSpatial) {
		check(fmt.Errorf("inputDilations has %d entries, want one per spatial axis (%d)",
			len(inputDilations), len(axes.InputSpatial)))
	}
	cfg := make([]compute.PadAxis, s.Rank())
	for i, axis := range axes.InputSpatial {
		if len(paddings) > 0 {
			cfg[axis].Start, cfg[axis].End = paddings[i][0], paddings[i][1]
		}
		if len(inputDilations) > 0 && inputDilations[i] > 1 {
			cfg[axis].Interior = inputDilations[i] - 1
		}
	}
	return must(f.Pad(input, f.scalar(s.DType, 0), cfg...))
}

// convBatchGroups convolves batch group g of the input with output-channel group g of the kernel, as XLA
// defines batch_group_count, and concatenates the results on the output channels.
func (f *function) convBatchGroups(input, kernel compute.Value, axes compute.ConvolveAxesConfig,
	channelGroupCount, groups int, conv func(x, k compute.Value, channelGroups int) compute.Value,
) compute.Value {
	is, ks := f.shapeOf(input), f.shapeOf(kernel)
	batch, outCh := is.Dimensions[axes.InputBatch], ks.Dimensions[axes.KernelOutputChannels]
	if batch%groups != 0 || outCh%groups != 0 {
		check(fmt.Errorf("batchGroupCount %d must divide the input batch (%d) and the kernel output channels (%d)",
			groups, batch, outCh))
	}
	parts := make([]compute.Value, groups)
	for g := range groups {
		xg := f.sliceAxis(input, axes.InputBatch, g*batch/groups, (g+1)*batch/groups)
		kg := f.sliceAxis(kernel, axes.KernelOutputChannels, g*outCh/groups, (g+1)*outCh/groups)
		parts[g] = conv(xg, kg, channelGroupCount)
	}
	return must(f.Concatenate(axes.OutputChannels, parts...))
}

// sliceAxis returns elements [from, to) of axis.
func (f *function) sliceAxis(x compute.Value, axis, from, to int) compute.Value {
	s := f.shapeOf(x)
	return f.crop(x, axis, from, s.Dimensions[axis]-to)
}

// convTransposer is an engine function with ONNX's ConvTranspose (the course's fork of compute-onnx).
type convTransposer interface {
	ConvTranspose(x, w compute.Value, strides, padsBegin, padsEnd []int) (compute.Value, error)
}

// transposable reports whether a convolution is one of an input dilated by more than one, with stride
// and kernel dilation 1 and padding of at most the kernel's size less one: the form of GoMLX's input
// gradient of a strided convolution, which convTransposed computes.
func transposable(ks shapes.Shape, axes compute.ConvolveAxesConfig, strides []int, paddings [][2]int,
	inputDilations, kernelDilations []int,
) bool {
	if !dilated(inputDilations) || dilated(strides) || dilated(kernelDilations) {
		return false
	}
	for i, p := range paddings {
		k := ks.Dimensions[axes.KernelSpatial[i]]
		if p[0] < 0 || p[1] < 0 || p[0] > k-1 || p[1] > k-1 {
			return false
		}
	}
	return true
}

// convTransposed computes the convolution of input dilated by inputDilations and padded by paddings as
// ConvTranspose of input itself: with the kernel's channel axes swapped and its window flipped, and
// k-1-p of padding where the convolution has p, it sums the same products, and skips those with the
// inserted zeros.
func (f *function) convTransposed(ct convTransposer, input, kernel compute.Value, axes compute.ConvolveAxesConfig,
	paddings [][2]int, inputDilations []int,
) compute.Value {
	ks := f.shapeOf(kernel)
	n := len(axes.InputSpatial)
	x := f.transposeTo(input, append([]int{axes.InputBatch, axes.InputChannels}, axes.InputSpatial...))
	w := f.transposeTo(kernel, append([]int{axes.KernelInputChannels, axes.KernelOutputChannels}, axes.KernelSpatial...))
	spatial := make([]int, n)
	strides, lo, hi := make([]int, n), make([]int, n), make([]int, n)
	for i, axis := range axes.KernelSpatial {
		spatial[i] = 2 + i
		k := ks.Dimensions[axis]
		strides[i], lo[i], hi[i] = orOne(inputDilations, i), k-1, k-1
		if len(paddings) > 0 {
			lo[i] -= paddings[i][0]
			hi[i] -= paddings[i][1]
		}
	}
	w = must(f.Reverse(w, spatial...))
	y := must(ct.ConvTranspose(x, w, strides, lo, hi))
	// y is [batch, channels, spatial...]; put each where the output axes config wants it.
	perm := make([]int, n+2)
	perm[axes.OutputBatch], perm[axes.OutputChannels] = 0, 1
	for i, axis := range axes.OutputSpatial {
		perm[axis] = 2 + i
	}
	return f.transposeTo(y, perm)
}
