// Package conv is lesson 05's convolution written three ways: loops over a kernel (Apply),
// unfolding the image into patches and one matrix product (Im2Col, ByMatMul), and the engine's
// convolution (Engine, which runs slowai/nn's Conv2D). All three compute the same numbers; the
// tests hold them to it. SimpleCNN is the lesson's first convolutional classifier.
//
// Layouts follow PyTorch: an image is channels first (C×H×W, row-major), a weight is
// [out, in, k, k], and "convolution" means cross-correlation (the kernel is not flipped).
package conv

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/nn"
)

// TopEdge responds to a dark row above a bright one: the top edge of a light shape.
var TopEdge = []float32{
	-1, -1, -1,
	0, 0, 0,
	1, 1, 1,
}

// LeftEdge responds to a dark column left of a bright one: the left edge of a light shape.
var LeftEdge = []float32{
	-1, 0, 1,
	-1, 0, 1,
	-1, 0, 1,
}

// OutSize is the length of a convolution's output along one axis: an input of n, padded with
// pad zeros on each side, visited by a window of k every stride positions.
func OutSize(n, k, stride, pad int) int {
	return (n+2*pad-k)/stride + 1
}

// Apply convolves a one-channel h×w image with a k×k kernel (row-major) by hand: for every output
// position, the sum of the kernel times the patch under it. Pixels outside the image (padding)
// count as 0.
func Apply(img []float32, h, w int, kernel []float32, k, stride, pad int) []float32 {
	oh, ow := OutSize(h, k, stride, pad), OutSize(w, k, stride, pad)
	out := make([]float32, oh*ow)
	for i := range oh {
		for j := range ow {
			var sum float32
			for di := range k {
				for dj := range k {
					r, c := i*stride-pad+di, j*stride-pad+dj
					if r < 0 || r >= h || c < 0 || c >= w {
						continue
					}
					sum += img[r*w+c] * kernel[di*k+dj]
				}
			}
			out[i*ow+j] = sum
		}
	}
	return out
}

// Im2Col unfolds a c×h×w image into a matrix with one row per output position, holding the
// c·k·k pixels under the kernel there (channel, then kernel row, then kernel column; 0 for
// padding). A convolution is then a matrix product of this matrix with the kernels.
func Im2Col(img []float32, c, h, w, k, stride, pad int) (m []float32, rows, cols int) {
	oh, ow := OutSize(h, k, stride, pad), OutSize(w, k, stride, pad)
	rows, cols = oh*ow, c*k*k
	m = make([]float32, rows*cols)
	for i := range oh {
		for j := range ow {
			row := m[(i*ow+j)*cols : (i*ow+j+1)*cols]
			for ch := range c {
				for di := range k {
					for dj := range k {
						r, cc := i*stride-pad+di, j*stride-pad+dj
						if r >= 0 && r < h && cc >= 0 && cc < w {
							row[(ch*k+di)*k+dj] = img[(ch*h+r)*w+cc]
						}
					}
				}
			}
		}
	}
	return m, rows, cols
}

// ByMatMul convolves a c×h×w image with outC kernels (weight [outC, c, k, k]) as Im2Col and one
// matrix product: output channel o at position p is row p of the patches dotted with kernel o.
// The result is outC×oh×ow.
func ByMatMul(img []float32, c, h, w int, weight []float32, outC, k, stride, pad int) []float32 {
	patches, rows, cols := Im2Col(img, c, h, w, k, stride, pad)
	out := make([]float32, outC*rows)
	for o := range outC {
		kern := weight[o*cols : (o+1)*cols]
		for p := range rows {
			var sum float32
			for q, v := range patches[p*cols : (p+1)*cols] {
				sum += v * kern[q]
			}
			out[o*rows+p] = sum
		}
	}
	return out
}

// Engine runs slowai/nn's Conv2D (no bias) on be: imgs is a batch of n c×h×w images, weight is
// [outC, c, k, k]. The result is n×outC×oh×ow.
func Engine(be compute.Backend, imgs []float32, n, c, h, w int, weight []float32, outC, k, stride, pad int) ([]float32, error) {
	if len(imgs) != n*c*h*w {
		return nil, fmt.Errorf("conv.Engine: %d image values, want n·c·h·w = %d·%d·%d·%d = %d", len(imgs), n, c, h, w, n*c*h*w)
	}
	if len(weight) != outC*c*k*k {
		return nil, fmt.Errorf("conv.Engine: %d weight values, want outC·c·k·k = %d·%d·%d·%d = %d", len(weight), outC, c, k, k, outC*c*k*k)
	}
	if OutSize(h, k, stride, pad) < 1 || OutSize(w, k, stride, pad) < 1 || stride < 1 {
		return nil, fmt.Errorf("conv.Engine: a %dx%d kernel with stride %d and padding %d does not fit a %dx%d image", k, k, stride, pad, h, w)
	}
	opts := nn.ConvOpts{Stride: nn.Pair(stride), Padding: nn.Pair(pad)}
	exec, err := graph.NewExec(be, func(x, wt *graph.Node) *graph.Node { return nn.Conv2D(x, wt, nil, opts) })
	if err != nil {
		return nil, fmt.Errorf("conv.Engine: %w", err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(imgs, n, c, h, w),
		tensors.FromFlatDataAndDimensions(weight, outC, c, k, k))
	if err != nil {
		return nil, fmt.Errorf("conv.Engine: %w", err)
	}
	defer outs[0].FinalizeAll()
	return tensors.CopyFlatData[float32](outs[0])
}
