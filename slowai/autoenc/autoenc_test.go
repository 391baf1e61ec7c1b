package autoenc

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

func TestConvAEParams(t *testing.T) {
	s := &module.Specs{}
	ConvAE(s)
	// conv 1→2 (18+2), conv 2→4 (72+4), conv 4→2 (72+2), conv 2→1 (18+1)
	if got := s.NumParams(); got != 189 {
		t.Errorf("ConvAE has %d parameters, want 189", got)
	}
}

func TestPreparePadsInputOnly(t *testing.T) {
	x := make([]float32, 2*28*28)
	for i := range x {
		x[i] = float32(i%97) / 97
	}
	b := &data.Batch{X: x, Y: []int32{0, 1}, Index: []int{0, 1}, N: 2, C: 1, H: 28, W: 28}
	step, err := Prepare(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, tg := step.Inputs[0], step.Targets[0]
	if d := in.Shape().Dimensions; d[2] != 32 || d[3] != 32 {
		t.Fatalf("input shape %v, want [2 1 32 32]", d)
	}
	if d := tg.Shape().Dimensions; d[2] != 28 || d[3] != 28 {
		t.Fatalf("target shape %v, want [2 1 28 28]", d)
	}
	if b.H != 28 || len(b.X) != 2*28*28 {
		t.Fatalf("Prepare changed the loader's batch to %dx%d", b.H, b.W)
	}
	pin := in.Value().([][][][]float32)
	for n := range 2 {
		for r := range 32 {
			for c := range 32 {
				want := float32(0)
				if r >= 2 && r < 30 && c >= 2 && c < 30 {
					want = x[n*784+(r-2)*28+c-2]
				}
				if pin[n][0][r][c] != want {
					t.Fatalf("padded input [%d,0,%d,%d] = %g, want %g", n, r, c, pin[n][0][r][c], want)
				}
			}
		}
	}
	if _, err := Prepare(&data.Batch{X: make([]float32, 32*32), Y: []int32{0}, Index: []int{0}, N: 1, C: 1, H: 32, W: 32}, nil); err == nil {
		t.Error("Prepare accepted 32x32 images")
	}
}

// A short training run on a subset lowers the test MSE well below that of the untrained
// network, whose sigmoid outputs sit near 0.5; Predict's reconstructions agree with the
// validation loss the Learner reports.
func TestTrainingReconstructs(t *testing.T) {
	train, err := data.FashionMNIST("train")
	if err != nil {
		t.Skip("Fashion-MNIST not available:", err)
	}
	test, err := data.FashionMNIST("test")
	if err != nil {
		t.Skip("Fashion-MNIST not available:", err)
	}
	dls, err := data.NewLoaders(train.Subset(4096), test.Subset(512), 64, data.LoaderOptions{Shuffle: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := &module.Specs{}
	m := &learn.Metrics{}
	seq := ConvAE(s)
	l, err := learn.New(learn.Net(s, seq), dls, learn.MSE, optim.AdamW(0.01, 1e-5), learn.Options{Seed: 1, Prepare: Prepare}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := testMSE(t, l, test.Subset(512))
	if err := l.Fit(2); err != nil {
		t.Fatal(err)
	}
	after := testMSE(t, l, test.Subset(512))
	if !(after < 0.5*before) || after > 0.06 {
		t.Errorf("test MSE %.4f before training, %.4f after: want it halved and under 0.06", before, after)
	}
	// Encoding then decoding is the whole network.
	dl, err := data.NewLoader(test.Subset(8), 8, data.LoaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dl.Next()
	codes, err := Encode(l, seq, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 8*4*8*8 {
		t.Fatalf("Encode gave %d values for 8 images, want 8·4·8·8", len(codes))
	}
	dec, err := Decode(l, seq, codes, 8)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Predict(l, b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range whole {
		if math.Abs(float64(dec[i]-whole[i])) > 1e-6 {
			t.Fatalf("Decode(Encode(x))[%d] = %g, Predict(x) = %g", i, dec[i], whole[i])
		}
	}
	if _, err := Decode(l, seq, codes[:10], 8); err == nil {
		t.Error("Decode accepted 10 values for 8 codes")
	}
	log, ok := m.Last(false)
	if !ok {
		t.Fatal("no validation log")
	}
	t.Logf("test MSE %.4f → %.4f; validation loss %.4f", before, after, log.Loss)
	if math.Abs(log.Loss-after) > 1e-4 {
		t.Errorf("Predict's test MSE %.5f differs from the Learner's validation loss %.5f", after, log.Loss)
	}
}

// testMSE is the mean squared error of Predict's reconstructions of ds, in batches of 64.
func testMSE(t *testing.T, l *learn.Learner, ds *data.Dataset) float64 {
	t.Helper()
	dl, err := data.NewLoader(ds, 64, data.LoaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, n := 0.0, 0
	for b, ok := dl.Next(); ok; b, ok = dl.Next() {
		out, err := Predict(l, b)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(b.X) {
			t.Fatalf("Predict returned %d values for %d pixels", len(out), len(b.X))
		}
		for i, v := range out {
			if v < 0 || v > 1 {
				t.Fatalf("reconstructed pixel %d = %g, outside the sigmoid's [0,1]", i, v)
			}
			d := float64(v - b.X[i])
			s += d * d
		}
		n += len(out)
	}
	return s / float64(n)
}
