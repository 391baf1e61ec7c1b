package backend

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// padRef pads x by XLA's definition: output element o along an axis comes from input element
// (o-start)/(interior+1) when that is a whole number inside the axis, and is the fill value otherwise.
func padRef(x arr, fill float64, cfg []compute.PadAxis) arr {
	rank := len(x.dims)
	out := arr{dims: make([]int, rank)}
	for i, d := range x.dims {
		c := compute.PadAxis{}
		if i < len(cfg) {
			c = cfg[i]
		}
		out.dims[i] = d + c.Start + c.End + max(d-1, 0)*c.Interior
	}
	out.data = make([]float64, size(out.dims))
	oi, xi := make([]int, rank), make([]int, rank)
	for flat := range out.data {
		index(flat, out.dims, oi)
		inside := true
		for i := range rank {
			c := compute.PadAxis{}
			if i < len(cfg) {
				c = cfg[i]
			}
			o := oi[i] - c.Start
			if o < 0 || o%(c.Interior+1) != 0 || o/(c.Interior+1) >= x.dims[i] {
				inside = false
				break
			}
			xi[i] = o / (c.Interior + 1)
		}
		if inside {
			out.data[flat] = x.data[flatOf(xi, x.dims)]
		} else {
			out.data[flat] = fill
		}
	}
	return out
}

type padCase struct {
	name string
	dims []int
	cfg  []compute.PadAxis
}

var padCases = []padCase{
	{"1d-positive", []int{5}, []compute.PadAxis{{Start: 2, End: 1}}},
	{"1d-negative", []int{7}, []compute.PadAxis{{Start: -2, End: -3}}},
	{"1d-interior", []int{4}, []compute.PadAxis{{Interior: 2}}},
	{"1d-mixed", []int{5}, []compute.PadAxis{{Start: -1, End: 2, Interior: 1}}},
	{"1d-negative-into-interior", []int{4}, []compute.PadAxis{{Start: -2, End: -1, Interior: 2}}},
	{"2d-positive", []int{3, 4}, []compute.PadAxis{{Start: 1, End: 0}, {Start: 0, End: 2}}},
	{"2d-mixed", []int{4, 3}, []compute.PadAxis{{Start: -1, End: 1, Interior: 1}, {Start: 2, End: -1}}},
	{"3d-interior", []int{2, 3, 4}, []compute.PadAxis{{}, {Interior: 1}, {Start: 1, End: 1, Interior: 2}}},
	{"3d-partial-config", []int{3, 2, 2}, []compute.PadAxis{{Start: -1, End: -1}}},
	{"4d-mixed", []int{2, 5, 4, 3}, []compute.PadAxis{{}, {Start: 1, End: -2, Interior: 1}, {Start: -1, End: 2}, {Interior: 1}}},
	{"4d-conv-gradient-like", []int{1, 3, 3, 2}, []compute.PadAxis{{}, {Start: 1, End: 2, Interior: 1}, {Start: 1, End: 2, Interior: 1}, {}}},
}

func TestPadForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const fill = -7.5
	forEngines(t, true, func(t *testing.T, e engine) {
		for _, c := range padCases {
			x := randArr(rng, c.dims...)
			want := padRef(x, fill, c.cfg)
			checkForward(t, e, c.name, want, func(xs []*Node) *Node {
				return Pad(xs[0], ConstAs(xs[0], fill), c.cfg...)
			}, x)
		}
	})
}

// TestPadGradient checks the gradient this package registers for Pad, with respect to the operand and to
// the fill value, through the engines' Pad (which the gradient itself uses, with negative and interior
// amounts).
func TestPadGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forEngines(t, false, func(t *testing.T, e engine) {
		for _, c := range padCases {
			t.Run(c.name, func(t *testing.T) {
				fill := arr{data: []float64{0.3}}
				gradCheck(t, e, func(xs []*Node) *Node {
					return weighted(Pad(xs[0], xs[1], c.cfg...))
				}, randArr(rng, c.dims...), fill)
			})
		}
	})
}

func TestSliceGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	forEngines(t, false, func(t *testing.T, e engine) {
		x := randArr(rng, 3, 7, 5)
		gradCheck(t, e, func(xs []*Node) *Node {
			return weighted(Slice(xs[0], AxisRange(1, 3), AxisRange(1, 7).Stride(2), AxisRange(0, 5).Stride(3)))
		}, x)
	})
}

// TestPadNativeGo checks the Pad forms the wrapper leaves to the Go engine itself (all but negative amounts,
// which crash it: see fixes.padNegative).
func TestPadNativeGo(t *testing.T) {
	raw, err := open(Go, "")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range padCases {
		if negativePad(c.cfg) {
			continue
		}
		x := randArr(rng, c.dims...)
		got, err := exec(t, engine{"go-raw", raw}, dtypesFor[0], func(xs []*Node) *Node {
			return Pad(xs[0], ConstAs(xs[0], 1.5), c.cfg...)
		}, x)
		if err != nil {
			t.Fatalf("%s: %+v", c.name, err)
		}
		assertClose(t, fmt.Sprintf("native go %s", c.name), got, padRef(x, 1.5, c.cfg), 0, 0)
	}
}
