package backend

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// convCase is a 2-D convolution in NHWC layout with an HWIO kernel.
type convCase struct {
	name                  string
	n, h, w, cin, cout, k int
	strides, inDil, kDil  [2]int
	pads                  [2][2]int
	groups, batchGroups   int
	icFirst               bool // kernel laid out [Cin/groups, K, K, Cout], as GoMLX's kernel gradients are.
}

// icFirst is nhwc with the kernel's input channels first: [Cin/groups, K, K, Cout].
var icFirst = compute.ConvolveAxesConfig{
	InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
	KernelInputChannels: 0, KernelOutputChannels: 3, KernelSpatial: []int{1, 2},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

// nhwc is the axes configuration of the convolutions in these tests, kernels HWIO.
var nhwc = compute.ConvolveAxesConfig{
	InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
	KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

// convRef is XLA's convolution written out: the input is dilated (inDil-1 zeros between elements), padded,
// and correlated with the dilated kernel at the given strides; channel groups split input channels and
// output channels alike, batch groups split the batch and the output channels.
func convRef(c convCase, x, kernel arr) arr {
	outDim := func(i, size int) int {
		dilated := (size-1)*c.inDil[i] + 1 + c.pads[i][0] + c.pads[i][1]
		return (dilated-((c.k-1)*c.kDil[i]+1))/c.strides[i] + 1
	}
	oh, ow := outDim(0, c.h), outDim(1, c.w)
	ob := c.n / c.batchGroups
	out := arr{dims: []int{ob, oh, ow, c.cout}}
	out.data = make([]float64, size(out.dims))
	cinG, coutG, coutB := c.cin/c.groups, c.cout/c.groups, c.cout/c.batchGroups
	at := func(p, i, size int) (int, bool) { // dilated, padded coordinate -> input index.
		p -= c.pads[i][0]
		if p < 0 || p%c.inDil[i] != 0 || p/c.inDil[i] >= size {
			return 0, false
		}
		return p / c.inDil[i], true
	}
	for b := range ob {
		for y := range oh {
			for z := range ow {
				for co := range c.cout {
					g, bb := co/coutG, (co/coutB)*ob+b
					var sum float64
					for ky := range c.k {
						iy, ok := at(y*c.strides[0]+ky*c.kDil[0], 0, c.h)
						if !ok {
							continue
						}
						for kz := range c.k {
							iz, ok := at(z*c.strides[1]+kz*c.kDil[1], 1, c.w)
							if !ok {
								continue
							}
							for ci := range cinG {
								xv := x.data[flatOf([]int{bb, iy, iz, g*cinG + ci}, x.dims)]
								kidx := []int{ky, kz, ci, co}
								if c.icFirst {
									kidx = []int{ci, ky, kz, co}
								}
								kv := kernel.data[flatOf(kidx, kernel.dims)]
								sum += xv * kv
							}
						}
					}
					out.data[flatOf([]int{b, y, z, co}, out.dims)] = sum
				}
			}
		}
	}
	return out
}

func (c convCase) withDefaults() convCase {
	for i := range 2 {
		c.strides[i] = max(c.strides[i], 1)
		c.inDil[i] = max(c.inDil[i], 1)
		c.kDil[i] = max(c.kDil[i], 1)
	}
	c.groups = max(c.groups, 1)
	c.batchGroups = max(c.batchGroups, 1)
	return c
}

var convCases = []convCase{
	{name: "same-3x3", n: 2, h: 5, w: 5, cin: 3, cout: 4, k: 3, pads: [2][2]int{{1, 1}, {1, 1}}},
	{name: "stride2-pad1", n: 2, h: 6, w: 7, cin: 2, cout: 3, k: 3, strides: [2]int{2, 2}, pads: [2][2]int{{1, 1}, {1, 1}}},
	{name: "input-dilation2", n: 1, h: 4, w: 3, cin: 2, cout: 3, k: 3, inDil: [2]int{2, 2}, pads: [2][2]int{{1, 2}, {2, 1}}},
	{name: "input-dilation-asymmetric", n: 2, h: 3, w: 4, cin: 3, cout: 2, k: 2, inDil: [2]int{3, 2}, pads: [2][2]int{{1, 0}, {0, 1}}},
	{name: "input-and-kernel-dilation-stride", n: 1, h: 5, w: 5, cin: 2, cout: 2, k: 3, strides: [2]int{2, 1}, inDil: [2]int{2, 2}, kDil: [2]int{2, 1}, pads: [2][2]int{{2, 2}, {1, 1}}},
	{name: "negative-padding", n: 1, h: 6, w: 6, cin: 2, cout: 2, k: 3, pads: [2][2]int{{-1, 0}, {1, -2}}},
	{name: "kernel-dilation2", n: 2, h: 7, w: 7, cin: 2, cout: 3, k: 3, kDil: [2]int{2, 2}, pads: [2][2]int{{2, 2}, {2, 2}}},
	{name: "channel-groups2", n: 2, h: 5, w: 5, cin: 4, cout: 6, k: 3, groups: 2, pads: [2][2]int{{1, 1}, {1, 1}}},
	{name: "batch-groups2", n: 4, h: 5, w: 4, cin: 2, cout: 4, k: 3, batchGroups: 2, pads: [2][2]int{{1, 1}, {0, 0}}},
	{name: "input-dilation-channel-groups", n: 1, h: 3, w: 3, cin: 4, cout: 4, k: 2, inDil: [2]int{2, 2}, groups: 2, pads: [2][2]int{{1, 1}, {1, 1}}},
	// Kernels with more positions than the output (computed by output position where convolutions become
	// matrix products), in both kernel layouts.
	{name: "wide-kernel", n: 2, h: 6, w: 5, cin: 3, cout: 2, k: 4, pads: [2][2]int{{1, 0}, {0, 1}}},
	{name: "wide-kernel-groups", n: 1, h: 5, w: 5, cin: 4, cout: 6, k: 4, groups: 2},
	{name: "wide-kernel-ic-first", n: 2, h: 7, w: 6, cin: 3, cout: 2, k: 3, kDil: [2]int{2, 2}, strides: [2]int{2, 1}, icFirst: true},
	{name: "wide-kernel-padding-of-both-signs", n: 2, h: 5, w: 6, cin: 2, cout: 3, k: 4, strides: [2]int{1, 2}, inDil: [2]int{2, 1}, kDil: [2]int{1, 2}, pads: [2][2]int{{-1, 2}, {2, 0}}},
	{name: "wide-kernel-ic-first-input-dilation", n: 3, h: 5, w: 4, cin: 2, cout: 2, k: 6, inDil: [2]int{1, 2}, pads: [2][2]int{{1, 1}, {2, 0}}, icFirst: true},
	{name: "wide-kernel-ic-first-groups", n: 1, h: 5, w: 5, cin: 4, cout: 4, k: 4, groups: 2, icFirst: true},
}

func TestConvGeneralForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	forEngines(t, true, func(t *testing.T, e engine) {
		for _, c := range convCases {
			c = c.withDefaults()
			x := randArr(rng, c.n, c.h, c.w, c.cin)
			kernel, axes := randArr(rng, c.k, c.k, c.cin/c.groups, c.cout), nhwc
			if c.icFirst {
				kernel, axes = randArr(rng, c.cin/c.groups, c.k, c.k, c.cout), icFirst
			}
			want := convRef(c, x, kernel)
			checkForward(t, e, c.name, want, func(xs []*Node) *Node {
				return ConvGeneral(xs[0], xs[1], axes, c.strides[:], c.pads[:], c.inDil[:], c.kDil[:], c.groups,
					c.batchGroups)
			}, x, kernel)
		}
	})
}

// TestConvGradient checks the gradients of the convolutions models use (whose input gradient, for strided
// convolutions, is an input-dilated convolution) against finite differences.
func TestConvGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	cases := []struct {
		name  string
		xDims []int
		kDims []int
		conv  func(x, k *Node) *Node
	}{
		{"stride2-pad1", []int{2, 6, 5, 2}, []int{3, 3, 2, 3}, func(x, k *Node) *Node {
			return Convolve(x, k).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{"stride2-pad1-odd", []int{1, 7, 7, 2}, []int{3, 3, 2, 2}, func(x, k *Node) *Node {
			return Convolve(x, k).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{"dilated", []int{2, 7, 6, 2}, []int{3, 3, 2, 2}, func(x, k *Node) *Node {
			return Convolve(x, k).Dilations(2).PadSame().Done()
		}},
		{"grouped", []int{2, 5, 5, 4}, []int{3, 3, 2, 4}, func(x, k *Node) *Node {
			return Convolve(x, k).ChannelGroupCount(2).PadSame().Done()
		}},
		{"grouped-strided", []int{1, 6, 6, 4}, []int{3, 3, 2, 6}, func(x, k *Node) *Node {
			return Convolve(x, k).ChannelGroupCount(2).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
	}
	forEngines(t, false, func(t *testing.T, e engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				gradCheck(t, e, func(xs []*Node) *Node { return weighted(c.conv(xs[0], xs[1])) },
					randArr(rng, c.xDims...), randArr(rng, c.kDims...))
			})
		}
	})
}
