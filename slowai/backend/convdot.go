package backend

import (
	"slices"

	"github.com/gomlx/compute"
)

// convAsDot computes a convolution whose input is already padded and undilated as one DotGeneral over
// gathered windows ("im2col"), which runs at the engine's matrix-product speed.
//
// It gathers along whichever is shorter: the kernel positions (each a strided slice of the input the size
// of the output, as for an ordinary 3x3 convolution) or the output positions (each a slice of the input
// the size of the kernel, as for the gradient of a convolution with respect to its kernel, whose "kernel"
// is the whole output gradient). The slices are stacked on a new axis, then contracted with the kernel over
// (window, input channel), with the channel groups as a batch axis. The layouts are chosen so that the
// contracted axes of both operands are contiguous and in the same order, which spares the engine from
// transposing the (large) gathered tensor:
//
//	by kernel position:                      x [B, S..., Ci] -> gathered [B, O..., P, Ci],  kernel [P, Ci, Co]
//	by output position, channels-last kernel:  x [B, S..., Ci] -> gathered [B, Q, K..., Ci], kernel [K..., Ci, Co]
//	by output position, channels-first kernel: x [B, Ci, S...] -> gathered [B, Q, Ci, K...], kernel [Ci, K..., Co]
//
// The last is the layout of GoMLX's kernel gradients, whose kernel (the output gradient) has its input
// channels (the batch) first.
func (f *function) convAsDot(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides,
	kernelDilations []int, groups int,
) compute.Value {
	n := len(axes.InputSpatial)
	groups = max(groups, 1)
	is, ks := f.shapeOf(input), f.shapeOf(kernel)
	b, ci, co := is.Dimensions[axes.InputBatch], is.Dimensions[axes.InputChannels], ks.Dimensions[axes.KernelOutputChannels]
	cig, cog := ci/groups, co/groups
	g := newConvGeometry(is, ks, axes, strides, nil, nil, kernelDilations)
	win, out := g.win, g.out
	numWin, numOut := size(win), size(out)
	byKernel := numWin <= numOut
	channelsFirst := !byKernel && n > 0 && axes.KernelInputChannels < slices.Min(axes.KernelSpatial)

	var x, k compute.Value
	if channelsFirst {
		x = f.transposeTo(input, concat([]int{axes.InputBatch, axes.InputChannels}, axes.InputSpatial))
		k = f.transposeTo(kernel, concat([]int{axes.KernelInputChannels}, axes.KernelSpatial,
			[]int{axes.KernelOutputChannels}))
	} else {
		x = f.transposeTo(input, concat([]int{axes.InputBatch}, axes.InputSpatial, []int{axes.InputChannels}))
		k = f.transposeTo(kernel, concat(axes.KernelSpatial, []int{axes.KernelInputChannels,
			axes.KernelOutputChannels}))
	}
	xdims := f.shapeOf(x).Clone().Dimensions
	spatial := 1 // first spatial axis of x.
	if channelsFirst {
		spatial = 2
	}

	// Gather.
	positions := win
	if !byKernel {
		positions = out
	}
	parts := make([]compute.Value, 0, size(positions))
	pos := make([]int, n)
	for range size(positions) {
		starts, limits, step := make([]int, n+2), slices.Clone(xdims), make([]int, n+2)
		for i := range step {
			step[i] = 1
		}
		for i := range n {
			a := spatial + i
			if byKernel { // window position pos, all outputs: strided by the convolution's stride.
				starts[a], step[a] = pos[i]*g.kDil[i], g.stride[i]
				limits[a] = starts[a] + (out[i]-1)*g.stride[i] + 1
			} else { // output position pos, the whole window: strided by the kernel dilation.
				starts[a], step[a] = pos[i]*g.stride[i], g.kDil[i]
				limits[a] = starts[a] + (win[i]-1)*g.kDil[i] + 1
			}
		}
		part := must(f.Slice(x, starts, limits, step))
		dims := f.shapeOf(part).Clone().Dimensions
		if byKernel { // [B, O..., Ci] -> [B, O..., 1, Ci]
			dims = slices.Insert(dims, n+1, 1)
		} else { // [B, K..., Ci] or [B, Ci, K...] -> [B, 1, ...]
			dims = slices.Insert(dims, 1, 1)
		}
		parts = append(parts, must(f.Reshape(part, dims...)))
		for i := n - 1; i >= 0; i-- {
			pos[i]++
			if pos[i] < positions[i] {
				break
			}
			pos[i] = 0
		}
	}
	gathered := parts[0]
	if len(parts) > 1 {
		axis := 1
		if byKernel {
			axis = n + 1
		}
		gathered = must(f.Concatenate(axis, parts...))
	}

	// Contracted axes, window then channels in the kernel's order, and where the channels sit.
	var gWindow, kWindow []int
	var gCh, kCh int
	switch {
	case byKernel:
		k = must(f.Reshape(k, numWin, ci/groups, co))
		gWindow, gCh, kWindow, kCh = []int{n + 1}, n+2, []int{0}, 1
	case channelsFirst:
		gCh, kCh = 2, 0
		for i := range n {
			gWindow, kWindow = append(gWindow, 3+i), append(kWindow, 1+i)
		}
	default:
		gCh, kCh = n+2, n
		for i := range n {
			gWindow, kWindow = append(gWindow, 2+i), append(kWindow, i)
		}
	}
	gContract, kContract := append(slices.Clone(gWindow), gCh), append(slices.Clone(kWindow), kCh)
	if channelsFirst {
		gContract, kContract = append([]int{gCh}, gWindow...), append([]int{kCh}, kWindow...)
	}

	var y compute.Value
	if groups == 1 {
		// y: [B, O... or Q, Co], the output positions in order either way.
		y = must(f.DotGeneral(gathered, gContract, nil, k, kContract, nil, compute.DotGeneralConfig{}))
	} else {
		// Split the channels into groups, G major: gathered channel axis -> [G, Cig]; kernel Co -> [G, Cog].
		gdims := f.shapeOf(gathered).Clone().Dimensions
		gdims = slices.Replace(gdims, gCh, gCh+1, groups, cig)
		gathered = must(f.Reshape(gathered, gdims...))
		kdims := f.shapeOf(k).Clone().Dimensions
		kdims = slices.Replace(kdims, len(kdims)-1, len(kdims), groups, cog)
		k = must(f.Reshape(k, kdims...))
		shift := func(axes []int, at int) []int { // axes after the split channel axis move by one.
			moved := slices.Clone(axes)
			for i, a := range moved {
				if a > at {
					moved[i] = a + 1
				}
			}
			return moved
		}
		gContract = shift(gContract, gCh)
		for i, a := range gContract {
			if a == gCh {
				gContract[i] = gCh + 1 // contract Cig, batch over G.
			}
		}
		y = must(f.DotGeneral(gathered, gContract, []int{gCh}, k, kContract, []int{len(kdims) - 2},
			compute.DotGeneralConfig{}))
		// y: [G, B, O... or Q, Cog] -> [B, O... or Q, G, Cog].
		rank := f.shapeOf(y).Rank()
		perm := make([]int, 0, rank)
		for i := 1; i < rank-1; i++ {
			perm = append(perm, i)
		}
		y = must(f.Transpose(y, append(perm, 0, rank-1)...))
	}
	y = must(f.Reshape(y, append(append([]int{b}, out...), co)...))
	return f.toOutputLayout(y, axes)
}

// size is the number of elements of an array with the given dimensions.
func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}
