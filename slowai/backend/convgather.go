package backend

import (
	"github.com/gomlx/compute"
)

// convGathered computes a convolution without channel or batch groups as two Gathers of whole rows and
// one matrix product.
//
// It is for convolutions with few output positions and a large "kernel": the gradient of a convolution
// with respect to its kernel, where GoMLX convolves the input x [N, H, W, C] (as batch B = C, input
// channels Ci = N) with the output gradient [N, H', W', Co] as the kernel. convAsDot's slices there copy
// rows of a few elements each, then copy them again into one tensor, which costs ONNX Runtime as much as
// the matrix product; and any layout that puts x's batch innermost needs a transpose that ONNX Runtime
// runs at well under 1 GB/s. Instead, with Q = Q' x Ql output positions and K = K' x Kl kernel
// positions, split into the last spatial axis (l) and the ones before it ('):
//
//   - x goes to [Ci, B, S'..., Wl], and the windows of the other spatial axes are gathered as whole rows
//     of Wl: G [B*Q', Ci*K'*Wl]. Padding on those axes reads an extra zero row.
//   - The window's offset along the last axis moves to the kernel instead: the kernel [Ci, K..., Co] is
//     gathered, again as whole rows of Co, into one copy per last-axis output position, with zero rows
//     where that window misses a column of x (padding and dilation of the last axis only move these):
//     D [Ci*K'*Wl, Ql*Co].
//   - y = G D, [B*Q', Ql*Co].
//
// For a kernel gradient of an NHWC convolution x needs only the transpose to channels-first that the
// forward convolution does anyway and the output gradient none (NCHW: the reverse, and both transposes
// are of the kind ONNX Runtime does fast), and the product has a long contraction on the inner axis of
// its first operand: the layout ONNX Runtime's matrix product runs fastest (the same product with the
// contraction on the outer axis, or the operands swapped, ran 1.8x slower in W2). The price is
// Wl/Kl - 1 more arithmetic (none in W2, where a same-padded 3x3 kernel's gradient has Kl = Wl; twice as
// much for stride 2, whose skipped columns are zeros).
func (f *function) convGathered(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides []int,
	paddings [][2]int, inputDilations, kernelDilations []int,
) compute.Value {
	n := len(axes.InputSpatial)
	is, ks := f.shapeOf(input), f.shapeOf(kernel)
	b, ci, co := is.Dimensions[axes.InputBatch], is.Dimensions[axes.InputChannels], ks.Dimensions[axes.KernelOutputChannels]
	geo := newConvGeometry(is, ks, axes, strides, paddings, inputDilations, kernelDilations)
	in, win, out, padLo := geo.in, geo.win, geo.out, geo.padLo
	l := n - 1 // the last spatial axis.
	inLead, winLead, outLead := size(in[:l]), size(win[:l]), size(out[:l])

	// x [Ci, B, S'..., Wl] as rows of Wl plus a zero row. The last axis is neither padded nor dilated:
	// its padding and dilation only decide which kernel rows meet which columns of x in D.
	x := f.transposeTo(input, concat([]int{axes.InputChannels, axes.InputBatch}, axes.InputSpatial))
	wl := in[l]
	x, zeroRow := f.withZeroRow(must(f.Reshape(x, ci*b*inLead, wl)))

	// Row of x (within one (Ci, B) block) read by output position q' with window position k', or -1.
	rowOf := make([]int64, outLead*winLead)
	qPos, kPos := make([]int, l), make([]int, l)
	for q := range outLead {
		unflatten(q, out[:l], qPos)
		for k := range winLead {
			unflatten(k, win[:l], kPos)
			row := int64(0)
			for i := range l {
				p := qPos[i]*geo.stride[i] + kPos[i]*geo.kDil[i] - padLo[i]
				d := geo.inDil[i]
				if p < 0 || p%d != 0 || p/d >= in[i] {
					row = -1
					break
				}
				row = row*int64(in[i]) + int64(p/d)
			}
			rowOf[q*winLead+k] = row
		}
	}
	indices := make([]int64, 0, b*outLead*ci*winLead)
	for j := range b {
		for q := range outLead {
			for c := range ci {
				for _, row := range rowOf[q*winLead : (q+1)*winLead] {
					if row < 0 {
						indices = append(indices, zeroRow)
					} else {
						indices = append(indices, int64((c*b+j)*inLead)+row)
					}
				}
			}
		}
	}
	g := must(f.Reshape(f.gatherRows(x, indices), b*outLead, ci*winLead*wl))

	// D [Ci*K'*Wl, Ql*Co]: kernel row (ci, k', kl) where column wl of x meets window position kl for
	// output position ql along the last axis, else a zero row.
	k := f.transposeTo(kernel, concat([]int{axes.KernelInputChannels}, axes.KernelSpatial,
		[]int{axes.KernelOutputChannels}))
	k, kZero := f.withZeroRow(must(f.Reshape(k, ci*size(win), co)))
	indices = make([]int64, 0, ci*winLead*wl*out[l])
	for block := range ci * winLead {
		for w := range wl {
			for q := range out[l] {
				// Column w of x sits at w*dilation+padLo on the padded, dilated axis.
				p, d := w*geo.inDil[l]+padLo[l]-q*geo.stride[l], geo.kDil[l]
				if p < 0 || p%d != 0 || p/d >= win[l] {
					indices = append(indices, kZero)
				} else {
					indices = append(indices, int64(block*win[l]+p/d))
				}
			}
		}
	}
	dk := must(f.Reshape(f.gatherRows(k, indices), ci*winLead*wl, out[l]*co))

	y := must(f.DotGeneral(g, []int{1}, nil, dk, []int{0}, nil, compute.DotGeneralConfig{}))
	// y [B*Q'*Ql, Co] -> [B, Q..., Co] -> the requested output layout.
	y = must(f.Reshape(y, append(append([]int{b}, out...), co)...))
	return f.toOutputLayout(y, axes)
}

// withZeroRow appends a row of zeros to the matrix x and returns the result and that row's index.
func (f *function) withZeroRow(x compute.Value) (compute.Value, int64) {
	s := f.shapeOf(x)
	return must(f.Pad(x, f.scalar(s.DType, 0), compute.PadAxis{End: 1}, compute.PadAxis{})), int64(s.Dimensions[0])
}

// gatherRows returns the rows of the matrix x [R, C] at the given indices, [len(indices), C].
func (f *function) gatherRows(x compute.Value, indices []int64) compute.Value {
	c := f.shapeOf(x).Dimensions[1]
	idx := must(f.Constant(indices, len(indices), 1))
	return must(f.Gather(x, idx, 1, []int{1}, []int{0}, []int{0}, []int{1, c}, false))
}

// unflatten writes the row-major multi-index of flat position i in an array of the given dimensions.
func unflatten(i int, dims, pos []int) {
	for a := len(dims) - 1; a >= 0; a-- {
		pos[a] = i % dims[a]
		i /= dims[a]
	}
}
