package data

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// pixel is the value of example i, channel ch, row r, column c in the synthetic sets:
// every value says where it came from, exactly (all are small integers).
func pixel(i, ch, r, c int) float32 { return float32(i*1000 + ch*100 + r*10 + c) }

// synthetic is an n-example set of c×h×w images holding pixel(...), labelled i%3.
func synthetic(t testing.TB, n, c, h, w int) *Dataset {
	t.Helper()
	imgs := make([]float32, 0, n*c*h*w)
	labels := make([]int, n)
	for i := range n {
		labels[i] = i % 3
		for ch := range c {
			for r := range h {
				for col := range w {
					imgs = append(imgs, pixel(i, ch, r, col))
				}
			}
		}
	}
	d, err := NewDataset("synthetic", c, h, w, imgs, labels, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q should mention %q", what, err, p)
		}
	}
}

func TestNewDatasetChannels(t *testing.T) {
	d := synthetic(t, 5, 3, 2, 4)
	if d.N != 5 || d.C != 3 || len(d.Image(4)) != 3*2*4 || d.Image(4)[1*8+1*4+2] != pixel(4, 1, 1, 2) {
		t.Fatalf("N=%d C=%d Image(4)=%v", d.N, d.C, d.Image(4))
	}
	x := d.Batch([]int{4, 0})
	if !slices.Equal(x.Shape().Dimensions, []int{2, 3, 2, 4}) {
		t.Fatalf("Batch shape %s", x.Shape())
	}
	if flat := tensors.MustCopyFlatData[float32](x); !slices.Equal(flat[:24], d.Image(4)) || !slices.Equal(flat[24:], d.Image(0)) {
		t.Errorf("Batch rows are not images 4 and 0")
	}
	if s := d.Subset(2); s.C != 3 || len(s.Images) != 2*24 || !slices.Equal(s.Image(1), d.Image(1)) {
		t.Errorf("Subset(2): C=%d len(Images)=%d", s.C, len(s.Images))
	}

	_, err := NewDataset("x", 0, 2, 2, nil, nil, nil)
	wantErr(t, "c = 0", err, `"x"`, "c, h, w = 0, 2, 2")
	_, err = NewDataset("x", 1, 2, 2, make([]float32, 7), make([]int, 2), nil)
	wantErr(t, "short images", err, "len(images) = 7", "= 8")
	_, err = NewDataset("x", 1, 1, 1, make([]float32, 2), []int{0, 3}, []string{"a", "b", "c"})
	wantErr(t, "label 3 of 3 classes", err, "labels[1] = 3")
	_, err = NewDataset("x", 1, 1, 1, make([]float32, 1), []int{-1}, nil)
	wantErr(t, "label -1", err, "labels[0] = -1")
	if _, err = NewDataset("x", 1, 1, 1, make([]float32, 1), []int{7}, nil); err != nil {
		t.Errorf("label 7 with no class list: %v", err)
	}
	noC := &Dataset{Name: "literal", N: 1, H: 1, W: 1, Images: []float32{0}, Labels: []int{0}}
	mustPanic(t, "Image of a Dataset with C = 0", func() { noC.Image(0) })
}

// checkBatch asserts that b holds exactly the examples b.Index of d, untransformed.
func checkBatch(t *testing.T, d *Dataset, b *Batch) {
	t.Helper()
	if b.C != d.C || b.H != d.H || b.W != d.W || len(b.Index) != b.N || len(b.Y) != b.N || len(b.X) != b.N*d.C*d.H*d.W {
		t.Fatalf("batch N, C, H, W = %d, %d, %d, %d, len(X, Y, Index) = %d, %d, %d", b.N, b.C, b.H, b.W, len(b.X), len(b.Y), len(b.Index))
	}
	sz := d.C * d.H * d.W
	for j, i := range b.Index {
		if !slices.Equal(b.X[j*sz:(j+1)*sz], d.Image(i)) || b.Y[j] != int32(d.Labels[i]) {
			t.Fatalf("batch row %d is not example %d", j, i)
		}
	}
}

// TestLoaderEpochs: every example once per epoch (DropLast: all but the remainder), full
// batches but the last, Len right, and Next's false moving to the next epoch.
func TestLoaderEpochs(t *testing.T) {
	const n = 10
	d := synthetic(t, n, 2, 2, 3)
	for _, bs := range []int{1, 3, 4, 10, 11} {
		for _, drop := range []bool{false, true} {
			for _, shuffle := range []bool{false, true} {
				if drop && bs > n {
					continue // an error, tested below
				}
				l, err := NewLoader(d, bs, LoaderOptions{Shuffle: shuffle, DropLast: drop, Seed: 7})
				if err != nil {
					t.Fatal(err)
				}
				wantLen := (n + bs - 1) / bs
				if drop {
					wantLen = n / bs
				}
				if l.Len() != wantLen {
					t.Errorf("bs=%d drop=%v: Len() = %d, want %d", bs, drop, l.Len(), wantLen)
				}
				for e := range 3 {
					if l.Epoch() != e {
						t.Fatalf("Epoch() = %d, want %d", l.Epoch(), e)
					}
					var seen []int
					batches := 0
					for b, ok := l.Next(); ok; b, ok = l.Next() {
						checkBatch(t, d, b)
						if b.N != bs && (drop || len(seen)+b.N != n) {
							t.Errorf("bs=%d drop=%v: batch %d has %d examples", bs, drop, batches, b.N)
						}
						seen = append(seen, b.Index...)
						batches++
					}
					if batches != wantLen {
						t.Errorf("bs=%d drop=%v epoch %d: %d batches, Len() = %d", bs, drop, e, batches, wantLen)
					}
					slices.Sort(seen)
					if len(slices.Compact(slices.Clone(seen))) != len(seen) {
						t.Errorf("bs=%d drop=%v epoch %d: an example came twice: %v", bs, drop, e, seen)
					}
					if want := wantLen * bs; drop && len(seen) != want || !drop && len(seen) != n {
						t.Errorf("bs=%d drop=%v epoch %d: %d examples", bs, drop, e, len(seen))
					}
					if !shuffle && !slices.Equal(seen, slices.Collect(func(yield func(int) bool) {
						for i := range len(seen) {
							yield(i)
						}
					})) {
						t.Errorf("unshuffled, DropLast=%v: saw %v, want the first %d examples", drop, seen, len(seen))
					}
				}
			}
		}
	}
}

// epochOrder is the example order of one epoch.
func epochOrder(l *Loader) []int {
	var idx []int
	for b, ok := l.Next(); ok; b, ok = l.Next() {
		idx = append(idx, b.Index...)
	}
	return idx
}

func TestLoaderOrder(t *testing.T) {
	d := synthetic(t, 50, 1, 1, 1)
	mk := func(seed uint64, shuffle bool) *Loader {
		l, err := NewLoader(d, 8, LoaderOptions{Shuffle: shuffle, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b, c := mk(1, true), mk(1, true), mk(2, true)
	a0, a1 := epochOrder(a), epochOrder(a)
	if b0, b1 := epochOrder(b), epochOrder(b); !slices.Equal(a0, b0) || !slices.Equal(a1, b1) {
		t.Errorf("same seed, different orders")
	}
	if slices.Equal(a0, a1) {
		t.Errorf("epochs 0 and 1 have the same order")
	}
	if slices.Equal(a0, epochOrder(c)) {
		t.Errorf("seeds 1 and 2 give the same order")
	}
	if slices.IsSorted(a0) {
		t.Errorf("shuffled epoch is in dataset order")
	}
	// The order depends on (Seed, epoch) alone: a loader restored at epoch 1 starts it
	// with the same order.
	r := mk(1, true)
	if err := r.Restore(LoaderState{Epoch: 1, RNG: r.State().RNG}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(epochOrder(r), a1) {
		t.Errorf("restored at epoch 1: different order")
	}
}

// step is one Next call's result.
type step struct {
	ok bool
	b  *Batch
}

func sameStep(a, b step) bool {
	if a.ok != b.ok {
		return false
	}
	if !a.ok {
		return true
	}
	if a.b.N != b.b.N || a.b.C != b.b.C || a.b.H != b.b.H || a.b.W != b.b.W ||
		!slices.Equal(a.b.Index, b.b.Index) || !slices.Equal(a.b.Y, b.b.Y) || len(a.b.X) != len(b.b.X) {
		return false
	}
	for i := range a.b.X {
		if math.Float32bits(a.b.X[i]) != math.Float32bits(b.b.X[i]) {
			return false
		}
	}
	return true
}

// TestLoaderResume stops a loader after every possible number of calls (mid-epoch, at the
// end of an epoch, just after the false), saves its state through JSON and restores it in
// a new loader: the rest must be bit-identical to the uninterrupted run, random
// transforms included.
func TestLoaderResume(t *testing.T) {
	d := synthetic(t, 10, 2, 3, 4)
	o := LoaderOptions{Shuffle: true, Seed: 3, Transforms: []Transform{RandomFlip(0.5), RandomCrop(1), Scale(2, -1)}}
	mk := func() *Loader {
		l, err := NewLoader(d, 4, o)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	const calls = 4 * 4 // 4 epochs of 3 batches (4, 4, 2) and a false
	ref := mk()
	var want []step
	for range calls {
		b, ok := ref.Next()
		want = append(want, step{ok, b})
	}
	if ref.Epoch() != 4 {
		t.Fatalf("after %d calls Epoch() = %d, want 4", calls, ref.Epoch())
	}
	// The transforms must really be random, or this test proves nothing: the same example
	// must come out differently in different epochs.
	first := map[int][]float32{}
	varied := false
	for _, s := range want {
		if !s.ok {
			continue
		}
		sz := s.b.C * s.b.H * s.b.W
		for j, i := range s.b.Index {
			x := s.b.X[j*sz : (j+1)*sz]
			if f, ok := first[i]; !ok {
				first[i] = x
			} else if !slices.Equal(f, x) {
				varied = true
			}
		}
	}
	if !varied {
		t.Fatal("the random transforms never changed an example between epochs")
	}

	for k := 0; k <= calls; k++ {
		l := mk()
		for range k {
			l.Next()
		}
		js, err := json.Marshal(l.State())
		if err != nil {
			t.Fatal(err)
		}
		var s LoaderState
		if err := json.Unmarshal(js, &s); err != nil {
			t.Fatal(err)
		}
		r := mk()
		if err := r.Restore(s); err != nil {
			t.Fatalf("after %d calls: Restore(%s): %v", k, js, err)
		}
		if r.Epoch() != k/4 {
			t.Errorf("after %d calls: restored Epoch() = %d, want %d", k, r.Epoch(), k/4)
		}
		for i := k; i < calls; i++ {
			b, ok := r.Next()
			if !sameStep(step{ok, b}, want[i]) {
				t.Fatalf("restored after %d calls (state %s): call %d differs from the uninterrupted run", k, js, i)
			}
		}
	}

	// The generator's state matters: the same position with a fresh generator gives
	// other batches.
	l := mk()
	for range 5 {
		l.Next()
	}
	s := l.State()
	s.RNG = mk().State().RNG
	r := mk()
	if err := r.Restore(s); err != nil {
		t.Fatal(err)
	}
	same := true
	for i := 5; i < calls; i++ {
		b, ok := r.Next()
		same = same && sameStep(step{ok, b}, want[i])
	}
	if same {
		t.Errorf("restoring the position with a fresh generator repeated the batches: the RNG state is not used")
	}
}

func TestLoaderErrors(t *testing.T) {
	d := synthetic(t, 5, 1, 3, 4)
	_, err := NewLoader(nil, 2, LoaderOptions{})
	wantErr(t, "nil dataset", err, "nil")
	_, err = NewLoader(d.Subset(0), 2, LoaderOptions{})
	wantErr(t, "empty dataset", err, "synthetic[:0]", "empty")
	for _, bs := range []int{0, -1} {
		_, err = NewLoader(d, bs, LoaderOptions{})
		wantErr(t, "batch size <= 0", err, "batchSize", "> 0")
	}
	_, err = NewLoader(d, 6, LoaderOptions{DropLast: true})
	wantErr(t, "DropLast with batch > N", err, "batchSize = 6", "DropLast")
	_, err = NewLoader(&Dataset{Name: "literal", N: 1, H: 1, W: 1, Images: []float32{0}, Labels: []int{0}}, 1, LoaderOptions{})
	wantErr(t, "C = 0", err, "literal", "NewDataset")
	_, err = NewLoader(d, 2, LoaderOptions{Transforms: []Transform{Scale(1, 0), nil}})
	wantErr(t, "nil transform", err, "Transforms[1]")
	_, err = NewLoader(d, 2, LoaderOptions{Transforms: []Transform{Scale(1, 0), Pad(3, 0)}})
	wantErr(t, "Pad too small", err, "Transforms[1]", "data.Pad(3)", "3x4")
	_, err = NewLoader(d, 2, LoaderOptions{Transforms: []Transform{RandomFlip(1.5)}})
	wantErr(t, "p > 1", err, "RandomFlip(1.5)")
	_, err = NewLoaders(d, d, 2, LoaderOptions{Transforms: []Transform{RandomCrop(-1)}})
	wantErr(t, "negative crop pad", err, "training loader", "RandomCrop(-1)")
	_, err = NewLoader(d, 2, LoaderOptions{Transforms: []Transform{Normalize(0, 0)}})
	wantErr(t, "std 0", err, "std = 0")
	broken := func(b *Batch, _ *rand.Rand) error { b.X = b.X[1:]; return nil }
	_, err = NewLoader(d, 2, LoaderOptions{Transforms: []Transform{broken}})
	wantErr(t, "transform breaking the batch", err, "Transforms[0]", "len(X)")

	l, err := NewLoader(d, 2, LoaderOptions{Shuffle: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Next()
	before := l.State()
	for _, c := range []struct {
		s    LoaderState
		want string
	}{
		{LoaderState{Epoch: 0, Offset: 6, RNG: before.RNG}, "Offset = 6"},
		{LoaderState{Epoch: 0, Offset: -1, RNG: before.RNG}, "Offset = -1"},
		{LoaderState{Epoch: -1, Offset: 0, RNG: before.RNG}, "Epoch = -1"},
		{LoaderState{Epoch: 1, Offset: 0, RNG: []byte("junk")}, "RNG"},
		{LoaderState{Epoch: 1, Offset: 0}, "RNG"},
	} {
		wantErr(t, "Restore", l.Restore(c.s), c.want, "synthetic")
		if now := l.State(); now.Epoch != before.Epoch || now.Offset != before.Offset || !slices.Equal(now.RNG, before.RNG) {
			t.Errorf("a failed Restore changed the state: %+v → %+v", before, now)
		}
	}
	// Offset == N is the end of the epoch: valid, and Next then starts the next one.
	if err := l.Restore(LoaderState{Epoch: 2, Offset: 5, RNG: before.RNG}); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Next(); ok || l.Epoch() != 3 {
		t.Errorf("at Offset = N: Next() = %v, Epoch() = %d, want false and 3", ok, l.Epoch())
	}
}

func TestBatchTensors(t *testing.T) {
	d := synthetic(t, 5, 2, 3, 4)
	l, err := NewLoader(d, 3, LoaderOptions{Shuffle: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.Next()
	x, y := b.Tensors()
	if x.DType() != dtypes.Float32 || !slices.Equal(x.Shape().Dimensions, []int{3, 2, 3, 4}) {
		t.Errorf("x is %s, want float32 [3 2 3 4]", x.Shape())
	}
	if y.DType() != dtypes.Int32 || !slices.Equal(y.Shape().Dimensions, []int{3}) {
		t.Errorf("y is %s, want int32 [3]", y.Shape())
	}
	if !slices.Equal(tensors.MustCopyFlatData[float32](x), b.X) || !slices.Equal(tensors.MustCopyFlatData[int32](y), b.Y) {
		t.Errorf("tensors do not hold the batch")
	}
	b.X = b.X[1:]
	mustPanic(t, "Tensors of a broken batch", func() { b.Tensors() })
}

// batchOf is a batch of the synthetic images idx (no loader).
func batchOf(d *Dataset, idx ...int) *Batch {
	l := &Loader{ds: d}
	return l.gather(idx)
}

func TestNormalizeScale(t *testing.T) {
	b := &Batch{X: []float32{0, 0.5, 1, 0.25}, N: 1, C: 1, H: 2, W: 2, Y: []int32{0}, Index: []int{0}}
	if err := Normalize(0.5, 0.25)(b, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.X, []float32{-2, 0, 2, -1}) {
		t.Errorf("Normalize(0.5, 0.25): %v", b.X)
	}
	b.X = []float32{0, 0.5, 1, 0.25}
	if err := Scale(2, -1)(b, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.X, []float32{-1, 0, 1, -0.5}) {
		t.Errorf("Scale(2, -1): %v", b.X)
	}
	wantErr(t, "Normalize std NaN", Normalize(0, float32(math.NaN()))(b, nil), "std = NaN")
}

func TestPad(t *testing.T) {
	d := synthetic(t, 2, 2, 2, 3)
	b := batchOf(d, 1, 0)
	if err := Pad(5, -1)(b, nil); err != nil {
		t.Fatal(err)
	}
	if b.C != 2 || b.H != 5 || b.W != 5 || len(b.X) != 2*2*25 {
		t.Fatalf("Pad(5): C, H, W = %d, %d, %d, len(X) = %d", b.C, b.H, b.W, len(b.X))
	}
	// Margins: rows (5-2)/2 = 1 above, 2 below; columns (5-3)/2 = 1 left, 1 right.
	for j, i := range []int{1, 0} {
		for ch := range 2 {
			for r := range 5 {
				for c := range 5 {
					want := float32(-1)
					if r >= 1 && r < 3 && c >= 1 && c < 4 {
						want = pixel(i, ch, r-1, c-1)
					}
					if got := b.X[((j*2+ch)*5+r)*5+c]; got != want {
						t.Fatalf("Pad(5): example %d channel %d (%d,%d) = %g, want %g", i, ch, r, c, got, want)
					}
				}
			}
		}
	}
	b = batchOf(d, 0)
	x := slices.Clone(b.X)
	if err := Pad(2, 0)(b, nil); err == nil || !strings.Contains(err.Error(), "data.Pad(2)") || !slices.Equal(b.X, x) || b.W != 3 {
		t.Errorf("Pad(2) of 2x3: err %v, batch changed: %v", err, !slices.Equal(b.X, x))
	}
	d = synthetic(t, 1, 1, 3, 3)
	b = batchOf(d, 0)
	if err := Pad(3, 9)(b, nil); err != nil || !slices.Equal(b.X, d.Image(0)) {
		t.Errorf("Pad to the same size: err %v, X %v", err, b.X)
	}
	if err := Pad(2, 0)(b, nil); err == nil {
		t.Errorf("Pad(2) of 3x3: no error")
	}
}

// flipped is image i of a synthetic c×h×w set mirrored left to right.
func flipped(i, c, h, w int) []float32 {
	var out []float32
	for ch := range c {
		for r := range h {
			for col := range w {
				out = append(out, pixel(i, ch, r, w-1-col))
			}
		}
	}
	return out
}

func TestRandomFlip(t *testing.T) {
	const n, c, h, w = 400, 2, 2, 3
	d := synthetic(t, n, c, h, w)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []float64{0, 1} {
		b := batchOf(d, all...)
		if err := RandomFlip(p)(b, rng); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			want := d.Image(i)
			if p == 1 {
				want = flipped(i, c, h, w)
			}
			if !slices.Equal(b.X[i*c*h*w:(i+1)*c*h*w], want) {
				t.Fatalf("RandomFlip(%g): image %d is %v, want %v", p, i, b.X[i*c*h*w:(i+1)*c*h*w], want)
			}
		}
	}
	b := batchOf(d, all...)
	if err := RandomFlip(1)(b, nil); err != nil || !slices.Equal(b.X, d.Images) {
		t.Errorf("RandomFlip(1) with a nil generator changed the batch (err %v)", err)
	}
	if err := RandomFlip(0.5)(b, rng); err != nil {
		t.Fatal(err)
	}
	nflip := 0
	for i := range n {
		switch x := b.X[i*c*h*w : (i+1)*c*h*w]; {
		case slices.Equal(x, d.Image(i)):
		case slices.Equal(x, flipped(i, c, h, w)):
			nflip++
		default:
			t.Fatalf("RandomFlip(0.5): image %d is neither itself nor its mirror: %v", i, x)
		}
	}
	if nflip < 140 || nflip > 260 { // Binomial(400, 0.5): mean 200, sd 10
		t.Errorf("RandomFlip(0.5) flipped %d of %d", nflip, n)
	}
	wantErr(t, "p < 0", RandomFlip(-0.1)(b, rng), "RandomFlip(-0.1)")
	wantErr(t, "p NaN", RandomFlip(math.NaN())(b, rng), "RandomFlip(NaN)")
}

// shifted is image i of a synthetic c×h×w set moved so that output (r, col) shows input
// (r+dy, col+dx), zero where that falls outside.
func shifted(i, c, h, w, dy, dx int) []float32 {
	var out []float32
	for ch := range c {
		for r := range h {
			for col := range w {
				v := float32(0)
				if sr, sc := r+dy, col+dx; sr >= 0 && sr < h && sc >= 0 && sc < w {
					v = pixel(i, ch, sr, sc)
				}
				out = append(out, v)
			}
		}
	}
	return out
}

func TestRandomCrop(t *testing.T) {
	const n, c, h, w = 300, 2, 3, 4
	d := synthetic(t, n, c, h, w)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, pad := range []int{1, 2} {
		b := batchOf(d, all...)
		if err := RandomCrop(pad)(b, rng); err != nil {
			t.Fatal(err)
		}
		if b.C != c || b.H != h || b.W != w {
			t.Fatalf("RandomCrop(%d) changed the size to %dx%dx%d", pad, b.C, b.H, b.W)
		}
		seen := map[[2]int]int{}
	images:
		for i := range n {
			x := b.X[i*c*h*w : (i+1)*c*h*w]
			for dy := -pad; dy <= pad; dy++ {
				for dx := -pad; dx <= pad; dx++ {
					if slices.Equal(x, shifted(i, c, h, w, dy, dx)) {
						seen[[2]int{dy, dx}]++
						continue images
					}
				}
			}
			t.Fatalf("RandomCrop(%d): image %d is no shift of the original: %v", pad, i, x)
		}
		if want := (2*pad + 1) * (2*pad + 1); len(seen) != want {
			t.Errorf("RandomCrop(%d): %d different shifts in %d images, want all %d: %v", pad, len(seen), n, want, seen)
		}
	}
	for _, tr := range []struct {
		name string
		pad  int
		rng  *rand.Rand
	}{{"RandomCrop(0)", 0, rng}, {"RandomCrop(2) with a nil generator", 2, nil}} {
		b := batchOf(d, all...)
		if err := RandomCrop(tr.pad)(b, tr.rng); err != nil || !slices.Equal(b.X, d.Images) {
			t.Errorf("%s changed the batch (err %v)", tr.name, err)
		}
	}
}

// TestValidLoader: the validation loader keeps deterministic transforms (Pad) and drops
// random ones (RandomFlip), keeps dataset order and the last short batch.
func TestValidLoader(t *testing.T) {
	train, valid := synthetic(t, 9, 2, 2, 3), synthetic(t, 5, 2, 2, 3)
	ls, err := NewLoaders(train, valid, 2, LoaderOptions{Shuffle: true, DropLast: true, Seed: 1,
		Transforms: []Transform{RandomFlip(1), Pad(4, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := ls.Train.Shape(); c != 2 || h != 4 || w != 4 {
		t.Errorf("Train.Shape() = %d, %d, %d, want 2, 4, 4", c, h, w)
	}
	if ls.Train.Len() != 4 || ls.Valid.Len() != 3 {
		t.Errorf("Len(): train %d (want 4), valid %d (want 3)", ls.Train.Len(), ls.Valid.Len())
	}
	pad := func(img []float32) []float32 { // 2x3 → 4x4: one row above, one below, one column right
		out := make([]float32, 0, 2*16)
		for ch := range 2 {
			for r := range 4 {
				for c := range 4 {
					v := float32(0)
					if r >= 1 && r < 3 && c < 3 {
						v = img[(ch*2+r-1)*3+c]
					}
					out = append(out, v)
				}
			}
		}
		return out
	}
	tb, _ := ls.Train.Next()
	if i := tb.Index[0]; !slices.Equal(tb.X[:32], pad(flipped(i, 2, 2, 3))) {
		t.Errorf("training example %d is not flipped and padded", i)
	}
	var idx []int
	for b, ok := ls.Valid.Next(); ok; b, ok = ls.Valid.Next() {
		for j, i := range b.Index {
			if !slices.Equal(b.X[j*32:(j+1)*32], pad(valid.Image(i))) {
				t.Errorf("validation example %d is not just padded", i)
			}
		}
		idx = append(idx, b.Index...)
	}
	if !slices.Equal(idx, []int{0, 1, 2, 3, 4}) {
		t.Errorf("validation order %v, want 0..4", idx)
	}
	_, err = NewLoaders(train, synthetic(t, 3, 1, 2, 3), 2, LoaderOptions{})
	wantErr(t, "train and valid shapes differ", err, "2x2x3", "1x2x3")
}

func TestFashionLoaders(t *testing.T) {
	offline(t)
	ls, err := FashionLoaders(1000, LoaderOptions{Shuffle: true, Seed: 1, Transforms: []Transform{Pad(32, 0), Scale(2, -1)}})
	if err != nil {
		t.Fatal(err)
	}
	if ls.Train.Len() != 60 || ls.Valid.Len() != 10 || ls.Train.Dataset().Name != "fashion-mnist/train" || ls.Valid.Dataset().Name != "fashion-mnist/test" {
		t.Errorf("Len() %d and %d, datasets %s and %s", ls.Train.Len(), ls.Valid.Len(), ls.Train.Dataset().Name, ls.Valid.Dataset().Name)
	}
	b, _ := ls.Valid.Next()
	x, y := b.Tensors()
	if !slices.Equal(x.Shape().Dimensions, []int{1000, 1, 32, 32}) || !slices.Equal(y.Shape().Dimensions, []int{1000}) {
		t.Fatalf("valid batch: x %s, y %s", x.Shape(), y.Shape())
	}
	test := ls.Valid.Dataset()
	if b.Index[7] != 7 || b.Y[7] != int32(test.Labels[7]) || b.X[7*1024] != -1 || b.X[7*1024+(2+14)*32+2+14] != 2*test.Image(7)[14*28+14]-1 {
		t.Errorf("valid example 7 is not test image 7 padded and scaled")
	}
	ml, err := MNISTLoaders(500, LoaderOptions{DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := ml.Train.Shape(); ml.Train.Len() != 120 || ml.Valid.Len() != 20 || c != 1 || h != 28 || w != 28 {
		t.Errorf("MNISTLoaders: Len() %d and %d, shape %dx%dx%d", ml.Train.Len(), ml.Valid.Len(), c, h, w)
	}
}

// BenchmarkLoaderNext measures one Fashion-MNIST-sized batch (128 images of 28×28) through
// the augmentation pipeline the course uses: flip, crop, pad to 32, scale to [-1,1].
func BenchmarkLoaderNext(b *testing.B) {
	d := synthetic(b, 1024, 1, 28, 28)
	l, err := NewLoader(d, 128, LoaderOptions{Shuffle: true, DropLast: true, Seed: 1,
		Transforms: []Transform{RandomFlip(0.5), RandomCrop(2), Pad(32, 0), Scale(2, -1)}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := l.Next(); !ok {
			l.Next()
		}
	}
}
