package minibatch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/slowai-go/course/slowai/backprop"
	"github.com/slowai-go/course/slowai/data"
)

// TestLogSumExp: the trick gives log Σ exp on ordinary values and stays finite where exp overflows.
func TestLogSumExp(t *testing.T) {
	x := []float32{1, 2, 3}
	want := math.Log(math.E + math.E*math.E + math.Exp(3))
	if got := LogSumExp(x); math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("LogSumExp(%v) = %v, want %v", x, got, want)
	}
	// exp(1000) is +Inf in float32 and float64 alike; the answer is 1000 + log 2.
	if got := LogSumExp([]float32{1000, 1000}); math.Abs(float64(got)-(1000+math.Ln2)) > 1e-4 {
		t.Errorf("LogSumExp(1000, 1000) = %v, want 1000.693", got)
	}
	if got := LogSumExp([]float32{-1000, -1000}); math.Abs(float64(got)-(-1000+math.Ln2)) > 1e-4 {
		t.Errorf("LogSumExp(-1000, -1000) = %v, want -999.307", got)
	}
}

// TestLogSoftmaxAndNLL: each row's probabilities sum to 1, and NLL picks each row's label entry.
func TestLogSoftmaxAndNLL(t *testing.T) {
	logits := []float32{2, 0, -1, 500, 501, 499}
	lp := LogSoftmax(logits, 3)
	for r := range 2 {
		s := 0.0
		for _, v := range lp[r*3 : r*3+3] {
			s += math.Exp(float64(v))
		}
		if math.Abs(s-1) > 1e-6 {
			t.Errorf("row %d: probabilities sum to %v", r, s)
		}
	}
	// Row 1 is row (1, 2, 0) shifted by 499: the same probabilities.
	if d := math.Abs(float64(lp[4]) - (2 - math.Log(math.E+math.E*math.E+1))); d > 1e-6 {
		t.Errorf("log p(row 1, class 1) = %v", lp[4])
	}
	want := -(float64(lp[0]) + float64(lp[5])) / 2
	if got := NLL(lp, []int{0, 2}, 3); math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("NLL = %v, want %v", got, want)
	}
}

// ce64 is cross-entropy in float64, straight from the definition -(1/n) Σ log(exp(z_y) / Σ exp(z)).
func ce64(logits []float32, labels []int, c int) float64 {
	s := 0.0
	for i, y := range labels {
		z := 0.0
		for _, v := range logits[i*c : (i+1)*c] {
			z += math.Exp(float64(v))
		}
		s -= math.Log(math.Exp(float64(logits[i*c+y])) / z)
	}
	return s / float64(len(labels))
}

// TestCrossEntropyGradient checks Backward against central differences of the float64 definition.
func TestCrossEntropyGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n, c = 4, 5
	logits := make([]float32, n*c)
	for i := range logits {
		logits[i] = float32(2 * rng.NormFloat64())
	}
	labels := []int{0, 4, 2, 2}
	ce := CrossEntropy{Classes: c}
	if got, want := ce.Forward(logits, labels), ce64(logits, labels, c); math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("loss %v, float64 definition %v", got, want)
	}
	g := ce.Backward()
	loss := func() (float64, error) { return ce64(logits, labels, c), nil }
	for i := range logits {
		fd, _ := backprop.FiniteDiff(loss, logits, i, 1e-3)
		if math.Abs(fd-float64(g[i])) > 1e-5 {
			t.Errorf("d loss/d logits[%d]: Backward %.7f, finite difference %.7f", i, g[i], fd)
		}
	}
}

func TestAccuracy(t *testing.T) {
	logits := []float32{0.1, 0.9, 0.5, 0.2, 3, 3} // argmax 1, 0, and a tie resolved to the first
	if got := Accuracy(logits, []int{1, 1, 0}, 2); math.Abs(got-2.0/3) > 1e-12 {
		t.Errorf("Accuracy = %v, want 2/3", got)
	}
}

func TestBadLabelsPanicClearly(t *testing.T) {
	defer func() {
		if r := recover(); r != "minibatch.NLL: labels[1] = 3, want a class in [0, 3)" {
			t.Fatalf("panic = %v", r)
		}
	}()
	NLL(make([]float32, 6), []int{0, 3}, 3)
}

// TestDataLoader: every example comes exactly once per epoch, in batches of the asked size, with its
// own label; shuffled epochs differ from each other and from the plain order.
func TestDataLoader(t *testing.T) {
	const n, dim = 23, 3
	x, y := make([]float32, n*dim), make([]int, n)
	for i := range n {
		y[i] = i
		for j := range dim {
			x[i*dim+j] = float32(10*i + j)
		}
	}
	ds, err := NewDataset(x, y, dim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDataset(x, y[:5], dim); err == nil {
		t.Error("NewDataset accepted 69 values for 5 labels of 3 features")
	}
	plain := NewDataLoader(ds, 5, false, nil)
	shuffled := NewDataLoader(ds, 5, true, rand.New(rand.NewPCG(1, 1)))
	var orders [][]int
	for _, dl := range []DataLoader{plain, shuffled, shuffled} {
		var seen, sizes []int
		for xb, yb := range dl.All() {
			sizes = append(sizes, len(yb))
			for k, label := range yb {
				if xb[k*dim] != float32(10*label) || xb[k*dim+2] != float32(10*label+2) {
					t.Fatalf("batch row %d = %v, not example %d", k, xb[k*dim:(k+1)*dim], label)
				}
			}
			seen = append(seen, yb...)
		}
		if !slices.Equal(sizes, []int{5, 5, 5, 5, 3}) {
			t.Errorf("batch sizes %v, want 5 5 5 5 3", sizes)
		}
		sorted := slices.Sorted(slices.Values(seen))
		if !slices.Equal(sorted, y) {
			t.Errorf("an epoch visited %v, want each of 0..22 once", seen)
		}
		orders = append(orders, seen)
	}
	if !slices.Equal(orders[0], y) {
		t.Errorf("unshuffled order %v", orders[0])
	}
	if slices.Equal(orders[1], y) || slices.Equal(orders[1], orders[2]) {
		t.Errorf("shuffled epochs %v and %v: want two different random orders", orders[1], orders[2])
	}
}

// TestFitLearnsMNIST: two epochs of lesson 04's recipe on 20,000 training images reaches 90 % on 2,000
// test images (the full lesson, 5 epochs on 60,000, reaches about 97 %).
func TestFitLearnsMNIST(t *testing.T) {
	train, err := data.MNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	test, err := data.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	train, test = train.Subset(20000), test.Subset(2000)
	trainDS, err := NewDataset(train.Images, train.Labels, 784)
	if err != nil {
		t.Fatal(err)
	}
	testDS, err := NewDataset(test.Images, test.Labels, 784)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	model := backprop.NewMLP(rng, 784, 50, 10)
	testDL := NewDataLoader(testDS, 500, false, nil)
	_, acc0 := Evaluate(model, testDL, 10)
	losses, hist := Fit(model, 0.2, 2, NewDataLoader(trainDS, 50, true, rng), testDL, 10)
	if len(losses) != 800 || len(hist) != 2 {
		t.Fatalf("%d batch losses and %d epochs, want 800 and 2", len(losses), len(hist))
	}
	t.Logf("test accuracy %.3f before training, %.3f and %.3f after each epoch", acc0, hist[0].ValidAcc, hist[1].ValidAcc)
	if acc := hist[1].ValidAcc; acc < 0.90 {
		t.Errorf("test accuracy after two epochs %.3f (%.3f before), want >= 0.90", acc, acc0)
	}
	if first, last := mean(losses[:20]), mean(losses[780:]); last > first/3 {
		t.Errorf("batch loss went from %.3f to %.3f, want it to fall by 3x", first, last)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
