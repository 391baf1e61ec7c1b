package ascent

import (
	"math"
	"math/rand"
	"slices"
	"sync"
	"testing"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
)

func newBackend(t testing.TB) compute.Backend {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatalf("backend.New: %v", err)
	}
	return be
}

// refLogProb is the classifier's log p(class | x) in plain float64 Go, from its weights.
func refLogProb(w [][]float32, d, hidden, k int, x []float64, class int) float64 {
	h := make([]float64, hidden)
	for j := range hidden {
		s := float64(w[1][j])
		for i := range d {
			s += x[i] * float64(w[0][i*hidden+j])
		}
		h[j] = s / (1 + math.Exp(-s)) // SiLU
	}
	logits := make([]float64, k)
	mx := math.Inf(-1)
	for c := range k {
		s := float64(w[3][c])
		for j := range hidden {
			s += h[j] * float64(w[2][j*k+c])
		}
		logits[c] = s
		mx = math.Max(mx, s)
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(l - mx)
	}
	return logits[class] - mx - math.Log(sum)
}

// TestGradLogProbFiniteDifferences checks the gradient the ascent follows against central
// differences of an independent float64 forward pass, on a small random model.
func TestGradLogProbFiniteDifferences(t *testing.T) {
	be := newBackend(t)
	const h, w, k, hidden = 4, 5, 3, 6
	c, err := NewClassifier(be, h, w, k, hidden, 7)
	if err != nil {
		t.Fatal(err)
	}
	weights, err := c.Weights()
	if err != nil {
		t.Fatal(err)
	}
	// Non-zero biases so that they take part in the check too.
	rng := rand.New(rand.NewSource(3))
	for _, i := range []int{1, 3} {
		for j := range weights[i] {
			weights[i][j] = float32(rng.NormFloat64() * 0.5)
		}
	}
	if err := c.SetWeights(weights); err != nil {
		t.Fatal(err)
	}
	d := h * w
	classes := []int{0, 2}
	images := make([]float32, len(classes)*d)
	for i := range images {
		images[i] = rng.Float32()
	}
	grad, logp, err := c.GradLogProb(images, classes)
	if err != nil {
		t.Fatal(err)
	}
	const eps = 1e-4
	var maxErr, maxGrad float64
	for n, class := range classes {
		x := make([]float64, d)
		for i := range x {
			x[i] = float64(images[n*d+i])
		}
		want := refLogProb(weights, d, hidden, k, x, class)
		if math.Abs(logp[n]-want) > 1e-4 {
			t.Errorf("image %d: log p(%d|x) = %.6f, plain-Go forward gives %.6f", n, class, logp[n], want)
		}
		for i := range d {
			x0 := x[i]
			x[i] = x0 + eps
			up := refLogProb(weights, d, hidden, k, x, class)
			x[i] = x0 - eps
			down := refLogProb(weights, d, hidden, k, x, class)
			x[i] = x0
			fd := (up - down) / (2 * eps)
			maxErr = math.Max(maxErr, math.Abs(fd-float64(grad[n*d+i])))
			maxGrad = math.Max(maxGrad, math.Abs(fd))
		}
	}
	if maxGrad < 1e-2 {
		t.Fatalf("finite-difference gradient is nearly zero (max |g| = %g): the check would prove nothing", maxGrad)
	}
	if maxErr > 1e-4+1e-3*maxGrad {
		t.Errorf("∇ₓ log p differs from central differences by up to %.3g (max |g| = %.3g)", maxErr, maxGrad)
	}
	t.Logf("max |autodiff − finite difference| = %.2g, max |g| = %.2g", maxErr, maxGrad)
}

func TestInputErrors(t *testing.T) {
	be := newBackend(t)
	c, err := NewClassifier(be, 2, 2, 3, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Probs(make([]float32, 7), 2); err == nil {
		t.Error("Probs accepted 7 floats for 2 images of 4 pixels")
	}
	if _, _, err := c.GradLogProb(make([]float32, 4), []int{3}); err == nil {
		t.Error("GradLogProb accepted class 3 of a 3-class model")
	}
	if _, err := Ascend(c, -1, AscentConfig{}); err == nil {
		t.Error("Ascend accepted class -1")
	}
	if _, err := Ascend(c, 0, AscentConfig{Steps: 5, FrameSteps: []int{6}}); err == nil {
		t.Error("Ascend accepted a frame step past Steps")
	}
	if _, err := NewClassifier(be, 0, 2, 3, 4, 1); err == nil {
		t.Error("NewClassifier accepted h=0")
	}
	if _, err := c.Probs(make([]float32, 4), 1); err != nil {
		t.Errorf("Probs on one valid image: %v", err)
	}
}

var (
	trainedOnce sync.Once
	trained     *Classifier
	trainLosses []float64
	trainErr    error
)

// trainedMNIST trains one small classifier per test binary: 400 Adam steps on 10k images,
// a few seconds on the pure-Go backend.
func trainedMNIST(t *testing.T) *Classifier {
	t.Helper()
	trainedOnce.Do(func() {
		var ds *data.Dataset
		if ds, trainErr = data.MNIST("train"); trainErr != nil {
			return
		}
		trained, trainLosses, trainErr = TrainClassifier(newBackend(t), ds.Subset(10000),
			TrainConfig{Steps: 400, NoiseMax: 1, Seed: 1})
	})
	if trainErr != nil {
		t.Fatalf("training the MNIST classifier: %v", trainErr)
	}
	return trained
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func TestTrainClassifier(t *testing.T) {
	c := trainedMNIST(t)
	if len(trainLosses) != 400 {
		t.Fatalf("got %d losses for 400 steps", len(trainLosses))
	}
	first, last := mean(trainLosses[:20]), mean(trainLosses[len(trainLosses)-50:])
	// Untrained: about log 10 = 2.3. Trained on noisy digits it stays well above 0.
	if first < 1.5 || last > 0.7 {
		t.Errorf("loss went from %.3f (first 20 steps) to %.3f (last 50); want > 1.5 then < 0.7", first, last)
	}
	test, err := data.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	acc, err := c.Accuracy(test.Subset(2000))
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.88 {
		t.Errorf("test accuracy %.3f, want >= 0.88", acc)
	}
	t.Logf("loss %.3f → %.3f, accuracy on 2000 test images %.3f", first, last, acc)
}

// TestAscent is the lesson's claim: following ∇ₓ log p(class | x) from noise takes a trained
// classifier from unsure (about chance) to sure (p > 0.9), for every digit.
func TestAscent(t *testing.T) {
	c := trainedMNIST(t)
	classes := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	cfg := AscentConfig{Steps: 60, StepSize: 1, Seed: 42, Every: 20}
	res, err := AscendClasses(c, classes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		before, after := r.Probs[0], r.Probs[len(r.Probs)-1]
		t.Logf("class %d: p %.3f → %.3f", r.Class, before, after)
		if len(r.Probs) != cfg.Steps+1 {
			t.Fatalf("class %d: %d probabilities for %d steps, want Steps+1", r.Class, len(r.Probs), cfg.Steps)
		}
		if r.Class != classes[i] || after <= 0.9 {
			t.Errorf("class %d: p went %.3f → %.3f, want it to end > 0.9", r.Class, before, after)
		}
		// All rows start from the same noise, so the ten starting probabilities are one
		// distribution; the check is on class 7, which this seed's noise is not.
		if r.Class == 7 && before >= 0.3 {
			t.Errorf("class 7: starting p = %.3f, want about chance (< 0.3)", before)
		}
		if want := []int{0, 20, 40, 60}; !slices.Equal(r.FrameSteps, want) || len(r.Frames) != len(want) {
			t.Errorf("class %d: frames at steps %v, want %v", r.Class, r.FrameSteps, want)
		}
		for _, v := range r.Frames[len(r.Frames)-1] {
			if v < 0 || v > 1 {
				t.Fatalf("class %d: clamped ascent left a pixel at %v", r.Class, v)
			}
		}
	}
	// The last recorded probability is the classifier's own verdict on the last frame.
	r := res[3]
	probs, err := c.Probs(r.Frames[len(r.Frames)-1], 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := probs[0][3], r.Probs[len(r.Probs)-1]; math.Abs(got-want) > 1e-5 {
		t.Errorf("Probs(last frame)[3] = %.6f but the ascent recorded %.6f", got, want)
	}
	// One class alone climbs exactly as its row of the batch.
	one, err := Ascend(c, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(one.Probs[cfg.Steps]-res[0].Probs[cfg.Steps]) > 1e-5 {
		t.Errorf("Ascend(0) ends at p=%.6f, AscendClasses row 0 at %.6f; want the same climb", one.Probs[cfg.Steps], res[0].Probs[cfg.Steps])
	}
}

// TestAscentPrior checks what the notebook shows next: adding the pull of a simple image
// prior still reaches a confident class, but removes the background noise.
func TestAscentPrior(t *testing.T) {
	c := trainedMNIST(t)
	base := AscentConfig{Steps: 150, StepSize: 5, Seed: 42}
	withPrior := base
	withPrior.Prior = 0.004
	var brightness [2]float64
	for i, cfg := range []AscentConfig{base, withPrior} {
		r, err := Ascend(c, 7, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if p := r.Probs[len(r.Probs)-1]; p <= 0.9 {
			t.Errorf("prior %g: p(7) ends at %.3f, want > 0.9", cfg.Prior, p)
		}
		last := r.Frames[len(r.Frames)-1]
		for _, v := range last {
			brightness[i] += float64(v) / float64(len(last))
		}
	}
	t.Logf("mean pixel of the last frame: %.3f without prior, %.3f with", brightness[0], brightness[1])
	if brightness[0] < 0.3 || brightness[1] > 0.15 {
		t.Errorf("mean pixel %.3f without prior, %.3f with; want the prior to darken the noise (> 0.3 → < 0.15)",
			brightness[0], brightness[1])
	}
}

func TestSaveLoad(t *testing.T) {
	be := newBackend(t)
	c, err := NewClassifier(be, 3, 3, 4, 5, 9)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/c.gob"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(be, path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 9)
	for i := range x {
		x[i] = float32(i) / 9
	}
	p1, err := c.Probs(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := back.Probs(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	for k := range p1[0] {
		if p1[0][k] != p2[0][k] {
			t.Fatalf("probabilities after Save/Load differ: %v vs %v", p1[0], p2[0])
		}
	}
	if _, err := Load(be, t.TempDir()+"/missing.gob"); err == nil {
		t.Error("Load of a missing file returned no error")
	}
}

func TestAddNoise(t *testing.T) {
	img := make([]float32, 20000)
	noisy := AddNoise(img, 0.5, 1)
	var s, s2 float64
	for _, v := range noisy {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(img))
	if m, sd := s/n, math.Sqrt(s2/n-(s/n)*(s/n)); math.Abs(m) > 0.02 || math.Abs(sd-0.5) > 0.02 {
		t.Errorf("noise mean %.3f, std %.3f; want 0 and 0.5", m, sd)
	}
}

// BenchmarkTrainStep times Adam steps of the 784-100-10 MLP at batch 128.
func BenchmarkTrainStep(b *testing.B) {
	be := newBackend(b)
	ds, err := data.MNIST("train")
	if err != nil {
		b.Fatal(err)
	}
	ds = ds.Subset(2000)
	b.ResetTimer()
	if _, _, err := TrainClassifier(be, ds, TrainConfig{Steps: b.N}); err != nil {
		b.Fatal(err)
	}
}
