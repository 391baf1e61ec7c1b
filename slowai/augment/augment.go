// Package augment is lesson 12's data augmentation, done on the engine: a batch's random choices
// (each image's shift, mirror and patch) are drawn on the host from the Learner's generator, so a
// run is reproducible and resumes exactly, and the images are changed inside the compiled training
// step by graph operations on the whole batch. Model wraps a network so that only training steps
// augment; validation and inference see the images as they are. FlipTTA is test-time augmentation.
package augment

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
)

// Options are the augmentations a training batch gets; the zero value changes nothing.
type Options struct {
	Pad   int     // random crop: shift each image by -Pad..Pad pixels each way, the border zero
	Flip  float64 // probability of mirroring an image left to right
	Erase float64 // probability of replacing a rectangle with noise (the batch's mean and spread)
	Copy  float64 // probability of covering a rectangle with a copy of another part of the image
	Size  float64 // the rectangle's side as a fraction of the image's (0.25 when 0)
}

// Validate reports options that cannot be drawn.
func (o Options) Validate() error {
	if o.Pad < 0 || !(o.Flip >= 0 && o.Flip <= 1) || !(o.Erase >= 0 && o.Copy >= 0 && o.Erase+o.Copy <= 1) || !(o.Size >= 0 && o.Size <= 1) {
		return fmt.Errorf("augment: options %+v: want Pad >= 0, probabilities Flip, Erase, Copy in [0, 1] with Erase+Copy <= 1, Size in [0, 1]", o)
	}
	return nil
}

// PatchKind is what happens to an image's rectangle.
type PatchKind int

const (
	None  PatchKind = iota // nothing
	Erase                  // filled with noise
	Copy                   // covered with the rectangle at (SY, SX) of the same image
)

// Patch is one image's rectangle: rows Y..Y+H-1, columns X..X+W-1.
type Patch struct {
	Kind       PatchKind
	Y, X, H, W int
	SY, SX     int // Copy: the top-left corner of the rectangle copied from
}

// Draws are one batch's random choices, one entry per image.
type Draws struct {
	DY, DX []int // the crop: output pixel (r, c) reads input pixel (r+DY, c+DX), or 0 outside
	Flip   []bool
	Patch  []Patch
}

// Draw makes the choices for n images of h×w pixels. The crop shifts are drawn first (dy then dx
// for each image) and the flips next (one number each), in the order data.RandomCrop and
// data.RandomFlip draw theirs, so the same generator gives the same crops and mirrors on both sides.
func (o Options) Draw(rng *rand.Rand, n, h, w int) (Draws, error) {
	if err := o.Validate(); err != nil {
		return Draws{}, err
	}
	if rng == nil || n < 0 || h <= 0 || w <= 0 {
		return Draws{}, fmt.Errorf("augment.Draw: want a generator and n >= 0 images of positive size, got n=%d %dx%d", n, h, w)
	}
	d := Draws{DY: make([]int, n), DX: make([]int, n), Flip: make([]bool, n), Patch: make([]Patch, n)}
	if o.Pad > 0 {
		for i := range n {
			d.DY[i], d.DX[i] = rng.IntN(2*o.Pad+1)-o.Pad, rng.IntN(2*o.Pad+1)-o.Pad
		}
	}
	if o.Flip > 0 {
		for i := range n {
			d.Flip[i] = rng.Float64() < o.Flip
		}
	}
	if o.Erase+o.Copy > 0 {
		size := o.Size
		if size == 0 {
			size = 0.25
		}
		ph, pw := max(1, int(size*float64(h)+0.5)), max(1, int(size*float64(w)+0.5))
		for i := range n {
			p := Patch{H: ph, W: pw, Y: rng.IntN(h - ph + 1), X: rng.IntN(w - pw + 1)}
			switch u := rng.Float64(); {
			case u < o.Erase:
				p.Kind = Erase
			case u < o.Erase+o.Copy:
				p.Kind, p.SY, p.SX = Copy, rng.IntN(h-ph+1), rng.IntN(w-pw+1)
			}
			d.Patch[i] = p
		}
	}
	return d, nil
}

// The columns of Draws.Tensor.
const (
	colDY = iota
	colDX
	colFlip
	colKind
	colY
	colX
	colH
	colW
	colSY
	colSX
	numCols
)

// Tensor packs the draws into an int32 tensor [n, 10], one row per image, for the graph.
func (d Draws) Tensor() *tensors.Tensor {
	n := len(d.DY)
	flat := make([]int32, n*numCols)
	for i := range n {
		p, row := d.Patch[i], flat[i*numCols:(i+1)*numCols]
		row[colDY], row[colDX], row[colKind] = int32(d.DY[i]), int32(d.DX[i]), int32(p.Kind)
		if d.Flip[i] {
			row[colFlip] = 1
		}
		row[colY], row[colX], row[colH], row[colW], row[colSY], row[colSX] = int32(p.Y), int32(p.X), int32(p.H), int32(p.W), int32(p.SY), int32(p.SX)
	}
	return tensors.FromFlatDataAndDimensions(flat, n, numCols)
}

// Shift moves every image of x [B, C, H, W] by its own whole number of pixels: output (r, c) reads
// input (r+dy, c+dx), and is 0 where that falls outside the image (pad with zeros, then crop). dy and
// dx are int32 [B]. It multiplies by one-hot selection matrices, rows then columns: every output is
// one input times 1 plus zeros, so it is exact.
func Shift(x, dy, dx *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	rows := selector(dy, d[2], x.DType()) // [B, H, H]: 1 where input row k = output row r + dy
	cols := selector(dx, d[3], x.DType()) // [B, W, W]
	x = graph.Einsum("brk,bckw->bcrw", rows, x)
	return graph.Einsum("bcrk,bwk->bcrw", x, cols)
}

// selector is [B, n, n] with 1 at [b, i, i+shift[b]] and 0 elsewhere.
func selector(shift *graph.Node, n int, dtype dtypes.DType) *graph.Node {
	g := shift.Graph()
	out := graph.Iota(g, shapes.Make(dtypes.Int32, 1, n, n), 1)
	in := graph.Iota(g, shapes.Make(dtypes.Int32, 1, n, n), 2)
	want := graph.Add(out, graph.Reshape(shift, -1, 1, 1))
	return graph.ConvertDType(graph.Equal(in, want), dtype)
}

// Flip mirrors left to right the images of x [B, C, H, W] whose flip [B] is not 0.
func Flip(x, flip *graph.Node) *graph.Node {
	on := graph.NotEqual(graph.Reshape(flip, -1), graph.ScalarZero(x.Graph(), flip.DType())) // [B]: a prefix of x's shape
	return graph.Where(on, graph.Reverse(x, 3), x)
}

// inside is [B, 1, H, W]: true in each image's rectangle rows y..y+h-1, columns x..x+w-1.
func inside(y, x, h, w *graph.Node, height, width int) *graph.Node {
	g := y.Graph()
	r := graph.Iota(g, shapes.Make(dtypes.Int32, 1, 1, height, 1), 2)
	c := graph.Iota(g, shapes.Make(dtypes.Int32, 1, 1, 1, width), 3)
	at := func(v *graph.Node) *graph.Node { return graph.Reshape(v, -1, 1, 1, 1) }
	in := func(i, lo, size *graph.Node) *graph.Node {
		return graph.LogicalAnd(graph.GreaterOrEqual(i, at(lo)), graph.LessThan(i, graph.Add(at(lo), at(size))))
	}
	return graph.LogicalAnd(in(r, y, h), in(c, x, w))
}

// EraseFill is the noise erased rectangles get: normal, with the batch's mean and standard
// deviation, clipped to the batch's range, as fast.ai's RandErase fills them.
func EraseFill(x *graph.Node, noise *module.Noise) *graph.Node {
	if noise == nil {
		panic("augment.EraseFill: no noise source (in a Learner, use augment.Model and Options.Prepare)")
	}
	mean := graph.ReduceAllMean(x)
	std := graph.Sqrt(graph.ReduceAllMean(graph.Square(graph.Sub(x, mean))))
	fill := graph.Add(graph.Mul(noise.Normal(x.Shape()), std), mean)
	return graph.Clip(fill, graph.ReduceAllMin(x), graph.ReduceAllMax(x))
}

// Apply augments images x [B, C, H, W] in the graph by draws [B, 10] (Draws.Tensor): the crop, then
// the mirror, then the patch: EraseFill's noise, or a copy of the rectangle at (SY, SX) moved into
// place by Shift. Only what o enables is built.
func (o Options) Apply(x, draws *graph.Node, noise *module.Noise) *graph.Node {
	col := func(i int) *graph.Node {
		return graph.Reshape(graph.Slice(draws, graph.AxisRange(), graph.AxisElem(i)), -1)
	}
	if o.Pad > 0 {
		x = Shift(x, col(colDY), col(colDX))
	}
	if o.Flip > 0 {
		x = Flip(x, col(colFlip))
	}
	if o.Erase+o.Copy == 0 {
		return x
	}
	d := x.Shape().Dimensions
	rect := inside(col(colY), col(colX), col(colH), col(colW), d[2], d[3])
	kind := graph.Reshape(col(colKind), -1, 1, 1, 1)
	is := func(k PatchKind) *graph.Node {
		on := graph.LogicalAnd(rect, graph.Equal(kind, graph.Scalar(x.Graph(), dtypes.Int32, int(k))))
		return graph.BroadcastToDims(on, d...) // every channel alike
	}
	if o.Erase > 0 {
		x = graph.Where(is(Erase), EraseFill(x, noise), x)
	}
	if o.Copy > 0 {
		from := Shift(x, graph.Sub(col(colSY), col(colY)), graph.Sub(col(colSX), col(colX)))
		x = graph.Where(is(Copy), from, x)
	}
	return x
}

// Model is a network that augments its training batches on the engine. Its step inputs are those
// of Options.Prepare: the images, the draws and an RNG state, which becomes the graph's
// module.Noise (for the erase fill and for module.Dropout). Validation steps use the images as
// they are.
type Model struct {
	Params *module.Specs
	Net    module.Layer
	Aug    Options
}

// Specs are the network's parameters.
func (m Model) Specs() *module.Specs { return m.Params }

// Forward augments the images when v.Train and runs the network.
func (m Model) Forward(v module.Vars, in []*graph.Node) *graph.Node {
	if len(in) != 3 {
		panic(fmt.Sprintf("augment.Model: %d step inputs, want 3 (images, draws, RNG state): use Options.Prepare as the Learner's Prepare", len(in)))
	}
	x := in[0]
	if v.Train {
		v.Noise = module.NewNoise(in[2])
		x = m.Aug.Apply(x, in[1], v.Noise)
	}
	return m.Net.Apply(v, x)
}

// Prepare is the learn.PrepareFunc that goes with Model: the batch's images, its draws and an RNG
// state for the graph's noise, all drawn from the Learner's generator rng, and the labels.
func (o Options) Prepare(b *data.Batch, rng *rand.Rand) (learn.Batch, error) {
	if b == nil || rng == nil {
		return learn.Batch{}, errors.New("augment.Prepare: want a batch and a generator")
	}
	d, err := o.Draw(rng, b.N, b.H, b.W)
	if err != nil {
		return learn.Batch{}, err
	}
	state := tensors.FromFlatDataAndDimensions([]uint64{rng.Uint64(), rng.Uint64(), rng.Uint64()}, 3)
	x, y := b.Tensors()
	return learn.Batch{Inputs: []*tensors.Tensor{x, d.Tensor(), state}, Targets: []*tensors.Tensor{y}, Host: b}, nil
}

// FlipTTA is test-time augmentation by flip: the mean of the class probabilities of the images x
// [B, C, H, W] and of their mirrors. probs maps images to probabilities [B, classes].
func FlipTTA(probs func(x *graph.Node) *graph.Node, x *graph.Node) *graph.Node {
	return graph.MulScalar(graph.Add(probs(x), probs(graph.Reverse(x, 3))), 0.5)
}

// Accuracy is the share of ds that net (evaluation mode, weights in v) labels right, with
// test-time augmentation by flip when tta is set. It runs 500 images per call.
func Accuracy(v module.Vars, net module.Layer, ds *data.Dataset, tta bool) (float64, error) {
	if ds == nil || ds.N == 0 {
		return 0, errors.New("augment.Accuracy: empty data set")
	}
	if v.Backend == nil {
		return 0, errors.New("augment.Accuracy: the Vars have no Backend (a Learner's have)")
	}
	v.Train = false
	probs := func(x *graph.Node) *graph.Node { return graph.Softmax(net.Apply(v, x), -1) }
	exec, err := model.NewExec(v.Backend, v.Store, func(_ *model.Scope, x *graph.Node) *graph.Node {
		if tta {
			return graph.ArgMax(FlipTTA(probs, x), -1, dtypes.Int32)
		}
		return graph.ArgMax(probs(x), -1, dtypes.Int32)
	})
	if err != nil {
		return 0, fmt.Errorf("augment.Accuracy: %w", err)
	}
	defer exec.Finalize()
	right, size := 0, ds.C*ds.H*ds.W
	for start := 0; start < ds.N; start += 500 {
		n := min(500, ds.N-start)
		x := tensors.FromFlatDataAndDimensions(ds.Images[start*size:(start+n)*size], n, ds.C, ds.H, ds.W)
		out, err := exec.Exec(x)
		if err != nil {
			return 0, fmt.Errorf("augment.Accuracy: %w", err)
		}
		pred := tensors.MustCopyFlatData[int32](out[0])
		out[0].FinalizeAll()
		for i, p := range pred {
			if int(p) == ds.Labels[start+i] {
				right++
			}
		}
	}
	return float64(right) / float64(ds.N), nil
}
