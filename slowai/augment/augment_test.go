package augment_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/augment"
	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
	"github.com/slowai-go/course/slowai/resnet"
)

func newBackend(t *testing.T) compute.Backend {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// randomBatch is n images of c×h×w distinct positive values (so a shift or mirror always shows).
func randomBatch(n, c, h, w int, seed uint64) *data.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := &data.Batch{X: make([]float32, n*c*h*w), N: n, C: c, H: h, W: w, Y: make([]int32, n), Index: make([]int, n)}
	for i := range b.X {
		b.X[i] = 0.1 + rng.Float32()
	}
	return b
}

// applyOnEngine runs o.Apply on the batch's images with draws d and a noise source from seed.
func applyOnEngine(t *testing.T, be compute.Backend, o augment.Options, b *data.Batch, d augment.Draws, seed uint64) []float32 {
	t.Helper()
	state := tensors.FromFlatDataAndDimensions([]uint64{seed, 2, 3}, 3)
	x, _ := b.Tensors()
	out, err := model.ExecOnce(be, model.NewStore(), func(_ *model.Scope, in []*graph.Node) *graph.Node {
		return o.Apply(in[0], in[1], module.NewNoise(in[2]))
	}, x, d.Tensor(), state)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

// The engine's crop and flip give exactly the host transforms' images for the same generator.
func TestCropFlipMatchHost(t *testing.T) {
	be := newBackend(t)
	const n, c, h, w = 16, 2, 5, 7 // not square, two channels: a mixed-up axis shows
	for _, o := range []augment.Options{{Pad: 2}, {Flip: 0.5}, {Pad: 1, Flip: 0.5}, {Pad: 3, Flip: 0.3}} {
		orig := randomBatch(n, c, h, w, 3)
		host := *orig
		host.X = slices.Clone(orig.X)
		rng := rand.New(rand.NewPCG(11, 0))
		var ts []data.Transform
		if o.Pad > 0 {
			ts = append(ts, data.RandomCrop(o.Pad))
		}
		if o.Flip > 0 {
			ts = append(ts, data.RandomFlip(o.Flip))
		}
		for _, tr := range ts {
			if err := tr(&host, rng); err != nil {
				t.Fatal(err)
			}
		}
		d, err := o.Draw(rand.New(rand.NewPCG(11, 0)), n, h, w)
		if err != nil {
			t.Fatal(err)
		}
		flips, shifts := 0, 0
		for i := range n {
			if d.Flip[i] {
				flips++
			}
			if d.DY[i] != 0 || d.DX[i] != 0 {
				shifts++
			}
		}
		if (o.Flip > 0 && (flips == 0 || flips == n)) || (o.Pad > 0 && shifts == 0) {
			t.Fatalf("%+v: draws too uniform to test (%d flips, %d shifts of %d)", o, flips, shifts, n)
		}
		got := applyOnEngine(t, be, o, orig, d, 1)
		if !slices.Equal(got, host.X) {
			t.Errorf("%+v: the engine's images differ from data.RandomCrop/RandomFlip's", o)
		}
		if slices.Equal(got, orig.X) {
			t.Errorf("%+v: nothing changed", o)
		}
	}
}

// Shift by the closed form: output (r, c) is input (r+dy, c+dx) or 0.
func TestShift(t *testing.T) {
	be := newBackend(t)
	const n, h, w = 3, 4, 6
	b := randomBatch(n, 1, h, w, 5)
	dy, dx := []int32{-1, 0, 3}, []int32{2, -5, 0}
	x, _ := b.Tensors()
	out, err := model.ExecOnce(be, model.NewStore(), func(_ *model.Scope, in []*graph.Node) *graph.Node {
		return augment.Shift(in[0], in[1], in[2])
	}, x, tensors.FromValue(dy), tensors.FromValue(dx))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	for i := range n {
		for r := range h {
			for c := range w {
				sr, sc := r+int(dy[i]), c+int(dx[i])
				want := float32(0)
				if sr >= 0 && sr < h && sc >= 0 && sc < w {
					want = b.X[(i*h+sr)*w+sc]
				}
				if g := got[(i*h+r)*w+c]; g != want {
					t.Fatalf("image %d (%d, %d): got %v, want %v", i, r, c, g, want)
				}
			}
		}
	}
}

// Erasing replaces exactly each image's rectangle, with values inside the batch's range.
func TestErase(t *testing.T) {
	be := newBackend(t)
	const n, c, h, w = 8, 2, 10, 12
	o := augment.Options{Erase: 1, Size: 0.3}
	b := randomBatch(n, c, h, w, 7)
	d, err := o.Draw(rand.New(rand.NewPCG(2, 0)), n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	got := applyOnEngine(t, be, o, b, d, 9)
	lo, hi := slices.Min(b.X), slices.Max(b.X)
	for i := range n {
		p := d.Patch[i]
		if p.Kind != augment.Erase || p.H != 3 || p.W != 4 || p.Y+p.H > h || p.X+p.W > w {
			t.Fatalf("image %d: patch %+v, want an erased 3x4 rectangle inside the image", i, p)
		}
		for ch := range c {
			for r := range h {
				for col := range w {
					k := ((i*c+ch)*h+r)*w + col
					in := r >= p.Y && r < p.Y+p.H && col >= p.X && col < p.X+p.W
					switch {
					case !in && got[k] != b.X[k]:
						t.Fatalf("image %d (%d, %d, %d) outside the rectangle changed", i, ch, r, col)
					case in && got[k] == b.X[k]:
						t.Fatalf("image %d (%d, %d, %d) inside the rectangle kept its value", i, ch, r, col)
					case in && (got[k] < lo || got[k] > hi):
						t.Fatalf("image %d: fill %v outside the batch's range [%v, %v]", i, got[k], lo, hi)
					}
				}
			}
		}
	}
}

// Copying covers each rectangle with the source rectangle of the same image, nothing else.
func TestCopy(t *testing.T) {
	be := newBackend(t)
	const n, c, h, w = 8, 1, 9, 11
	o := augment.Options{Copy: 1, Size: 0.4}
	b := randomBatch(n, c, h, w, 8)
	d, err := o.Draw(rand.New(rand.NewPCG(4, 0)), n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	got := applyOnEngine(t, be, o, b, d, 1)
	for i := range n {
		p := d.Patch[i]
		if p.Kind != augment.Copy {
			t.Fatalf("image %d: kind %v, want Copy", i, p.Kind)
		}
		for r := range h {
			for col := range w {
				want := b.X[(i*h+r)*w+col]
				if r >= p.Y && r < p.Y+p.H && col >= p.X && col < p.X+p.W {
					want = b.X[(i*h+r-p.Y+p.SY)*w+col-p.X+p.SX]
				}
				if g := got[(i*h+r)*w+col]; g != want {
					t.Fatalf("image %d (%d, %d) patch %+v: got %v, want %v", i, r, col, p, g, want)
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, o := range []augment.Options{{Pad: -1}, {Flip: 1.5}, {Erase: 0.6, Copy: 0.6}, {Size: 2}, {Erase: math.NaN()}} {
		if o.Validate() == nil {
			t.Errorf("%+v: no error", o)
		}
		if _, err := o.Draw(rand.New(rand.NewPCG(1, 1)), 2, 3, 3); err == nil {
			t.Errorf("%+v: Draw without error", o)
		}
	}
}

// Dropout keeps about 1-P of the values, each scaled by 1/(1-P), and is the identity in evaluation.
func TestDropout(t *testing.T) {
	be := newBackend(t)
	const n, p = 20000, 0.3
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	run := func(train bool) (first, second []float32) {
		v := module.NewVars("/d")
		v.Train = train
		outs, err := model.ExecOnceN(be, v.Store, func(_ *model.Scope, in []*graph.Node) []*graph.Node {
			v.Noise = module.NewNoise(in[1])
			d := module.Dropout{P: p}
			return []*graph.Node{d.Apply(v, in[0]), d.Apply(v, in[0])}
		}, tensors.FromFlatDataAndDimensions(ones, n), tensors.FromFlatDataAndDimensions([]uint64{5, 6, 7}, 3))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	}
	a, b := run(true)
	kept := 0
	for _, y := range a {
		switch y {
		case 0:
		case float32(1 / (1 - p)):
			kept++
		default:
			t.Fatalf("dropout output %v, want 0 or 1/(1-p) = %v", y, 1/(1-p))
		}
	}
	// The kept count is binomial(n, 1-p): its standard deviation is sqrt(n p (1-p)) ≈ 65.
	if want := (1 - p) * n; math.Abs(float64(kept)-want) > 5*math.Sqrt(n*p*(1-p)) {
		t.Errorf("kept %d of %d, want about %.0f", kept, n, want)
	}
	if slices.Equal(a, b) {
		t.Error("two dropout layers in one graph drew the same mask")
	}
	if e, _ := run(false); !slices.Equal(e, ones) {
		t.Error("dropout changed its input in evaluation")
	}
}

// Test-time augmentation by flip gives an image and its mirror the same probabilities.
func TestFlipTTASymmetric(t *testing.T) {
	be := newBackend(t)
	b := randomBatch(6, 1, 28, 28, 12)
	for i := range b.X { // make each image lopsided, so that the network tells it from its mirror
		if i%28 < 9 {
			b.X[i] *= 0.2
		}
	}
	x, _ := b.Tensors()
	v := module.NewVarsOn("/tta", be)
	s, net := resnet.ClassifierNet()
	if err := module.Randomize(v, s, 3); err != nil {
		t.Fatal(err)
	}
	probs := func(x *graph.Node) *graph.Node { return graph.Softmax(net.Apply(v, x), -1) }
	outs, err := model.ExecOnceN(be, v.Store, func(_ *model.Scope, in []*graph.Node) []*graph.Node {
		return []*graph.Node{augment.FlipTTA(probs, in[0]), augment.FlipTTA(probs, graph.Reverse(in[0], 3)), probs(in[0])}
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	tta, mirrored, plain := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1]), tensors.MustCopyFlatData[float32](outs[2])
	far := 0.0
	for i := range tta {
		if d := math.Abs(float64(tta[i] - mirrored[i])); d > 1e-6 {
			t.Fatalf("probability %d: %v for the images, %v for their mirrors", i, tta[i], mirrored[i])
		}
		far = max(far, math.Abs(float64(tta[i]-plain[i])))
	}
	if far < 1e-4 {
		t.Errorf("the flip average equals the plain probabilities (max difference %g): the test cannot tell", far)
	}
}

// A Learner with Model and Prepare trains and validates, and two runs with one seed agree exactly.
func TestLearnerAugments(t *testing.T) {
	be := newBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64
	imgs, labels := make([]float32, n*8*8), make([]int, n)
	for i := range imgs {
		imgs[i] = rng.Float32()
	}
	for i := range labels {
		labels[i] = i % 3
	}
	ds, err := data.NewDataset("toy", 1, 8, 8, imgs, labels, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	o := augment.Options{Pad: 1, Flip: 0.5, Erase: 0.3, Copy: 0.3}
	run := func() []float64 {
		dls, err := data.NewLoaders(ds, ds, 16, data.LoaderOptions{Shuffle: true, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		s, seq := &module.Specs{}, &module.Sequential{}
		seq.Add("flatten", module.Flatten).Add("drop", module.Dropout{P: 0.2}).Add("lin", module.NewLinear(s, "lin", 64, 3, true))
		rec := &learn.Recorder{}
		l, err := learn.New(augment.Model{Params: s, Net: seq, Aug: o}, dls, learn.CrossEntropy, optim.AdamW(1e-2, 0),
			learn.Options{Backend: be, Seed: 1, Prepare: o.Prepare}, rec)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Fit(2); err != nil {
			t.Fatal(err)
		}
		return rec.Losses
	}
	a, b := run(), run()
	if len(a) != 8 || !slices.Equal(a, b) {
		t.Errorf("losses %v and %v: want 8 equal steps", a, b)
	}
}

// Accuracy with and without flip TTA against a float64 evaluation of a linear classifier on the host.
func TestAccuracy(t *testing.T) {
	be := newBackend(t)
	const n, h, w, k = 300, 2, 3, 3
	rng := rand.New(rand.NewPCG(4, 4))
	imgs, labels := make([]float32, n*h*w), make([]int, n)
	for i := range imgs {
		imgs[i] = rng.Float32()
	}
	for i := range labels {
		labels[i] = rng.IntN(k)
	}
	ds, err := data.NewDataset("toy", 1, h, w, imgs, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, seq := &module.Specs{}, &module.Sequential{}
	seq.Add("flatten", module.Flatten).Add("lin", module.NewLinear(s, "lin", h*w, k, true))
	v := module.NewVarsOn("/acc", be)
	if err := module.Randomize(v, s, 5); err != nil {
		t.Fatal(err)
	}
	wts, _ := module.Values(v, "lin.weight")
	bias, _ := module.Values(v, "lin.bias")
	probs := func(x []float32) []float64 {
		p, sum := make([]float64, k), 0.0
		for j := range k {
			z := float64(bias[j])
			for i, xi := range x {
				z += float64(wts[j*h*w+i]) * float64(xi)
			}
			p[j] = math.Exp(z)
			sum += p[j]
		}
		for j := range p {
			p[j] /= sum
		}
		return p
	}
	for _, tta := range []bool{false, true} {
		right := 0
		for i := range n {
			x := ds.Image(i)
			p := probs(x)
			if tta {
				m := make([]float32, len(x))
				for r := range h {
					for c := range w {
						m[r*w+c] = x[r*w+w-1-c]
					}
				}
				for j, q := range probs(m) {
					p[j] = (p[j] + q) / 2
				}
			}
			best := 0
			for j := range p {
				if p[j] > p[best] {
					best = j
				}
			}
			if best == labels[i] {
				right++
			}
		}
		got, err := augment.Accuracy(v, seq, ds, tta)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(right) / n; got != want {
			t.Errorf("tta %v: accuracy %v, want %v", tta, got, want)
		}
	}
}
