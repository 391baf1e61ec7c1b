package resnet

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/safetensors"
)

// randomClassifier is a ClassifierNet with seeded random weights; BatchNorm's running statistics
// are perturbed from their initial 0 and 1 so that evaluation mode is visible in the outputs.
func randomClassifier(t *testing.T) *Classifier {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	c := NewClassifier(module.NewVarsOn("/test", be))
	if err := module.Randomize(c.Vars, c.specs, 7); err != nil {
		t.Fatal(err)
	}
	for _, sp := range c.specs.List() {
		if !sp.Buffer {
			continue
		}
		vals, err := module.Values(c.Vars, sp.Name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range vals {
			vals[i] += 0.1 * float32(math.Sin(float64(i+len(sp.Name))))
		}
		if err := module.SetValues(c.Vars, sp, vals); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// images are n smooth, left-right asymmetric 28x28 test images in [0, 1].
func images(n int) [][]float32 {
	out := make([][]float32, n)
	for k := range out {
		img := make([]float32, 28*28)
		for i := range img {
			r, c := i/28, i%28
			img[i] = float32(0.5 + 0.5*math.Sin(0.3*float64(r*(k+1))+0.05*float64(c*c)+float64(k)))
		}
		out[k] = img
	}
	return out
}

func mirror(img []float32) []float32 {
	out := make([]float32, len(img))
	for i := range img {
		r, c := i/28, i%28
		out[i] = img[r*28+27-c]
	}
	return out
}

// TestTTAIsTheMeanOfImageAndMirror: the flip TTA's probabilities equal the mean of the plain
// probabilities of the image and of its mirror, so they are the same for both.
func TestTTAIsTheMeanOfImageAndMirror(t *testing.T) {
	c := randomClassifier(t)
	defer c.Close()
	imgs := images(3)
	var mirrored [][]float32
	for _, img := range imgs {
		mirrored = append(mirrored, mirror(img))
	}
	p, err := c.Probs(imgs, false)
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.Probs(mirrored, false)
	if err != nil {
		t.Fatal(err)
	}
	tta, err := c.Probs(imgs, true)
	if err != nil {
		t.Fatal(err)
	}
	ttaM, err := c.Probs(mirrored, true)
	if err != nil {
		t.Fatal(err)
	}
	differ := false
	for i := range imgs {
		for k := range NumClasses {
			want := (p[i][k] + q[i][k]) / 2
			if math.Abs(float64(tta[i][k]-want)) > 1e-6 || math.Abs(float64(ttaM[i][k]-want)) > 1e-6 {
				t.Errorf("image %d class %d: TTA %v (mirror's %v), want the mean %v", i, k, tta[i][k], ttaM[i][k], want)
			}
			differ = differ || math.Abs(float64(p[i][k]-q[i][k])) > 1e-4
		}
	}
	if !differ {
		t.Error("an image and its mirror got the same probabilities: the test cannot tell TTA from no TTA")
	}
}

// TestFeaturesFeedTheHead: the probabilities are softmax(BatchNorm_eval(features · Wᵀ)), computed
// here in float64 from the exposed features and the stored head weights.
func TestFeaturesFeedTheHead(t *testing.T) {
	c := randomClassifier(t)
	defer c.Close()
	imgs := images(4)
	feats, err := c.Features(imgs)
	if err != nil {
		t.Fatal(err)
	}
	probs, err := c.Probs(imgs, false)
	if err != nil {
		t.Fatal(err)
	}
	val := func(name string) []float32 {
		v, err := module.Values(c.Vars, name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	w, g, b, rm, rv := val("lin.weight"), val("bn.weight"), val("bn.bias"), val("bn.running_mean"), val("bn.running_var")
	for i, f := range feats {
		if len(f) != FeatureDim {
			t.Fatalf("features of image %d: %d values, want %d", i, len(f), FeatureDim)
		}
		logits := make([]float64, NumClasses)
		var maxL float64 = math.Inf(-1)
		for k := range NumClasses {
			var z float64
			for j := range FeatureDim {
				z += float64(f[j]) * float64(w[k*FeatureDim+j])
			}
			logits[k] = (z-float64(rm[k]))/math.Sqrt(float64(rv[k])+1e-5)*float64(g[k]) + float64(b[k])
			maxL = math.Max(maxL, logits[k])
		}
		var sum float64
		for k := range logits {
			sum += math.Exp(logits[k] - maxL)
		}
		for k := range NumClasses {
			want := math.Exp(logits[k]-maxL) / sum
			if math.Abs(float64(probs[i][k])-want) > 1e-5 {
				t.Errorf("image %d class %d: probability %v, want %v from the features", i, k, probs[i][k], want)
			}
		}
	}
}

// TestSaveLoad: a saved classifier loads with the same outputs; files of another network, and
// images of the wrong size, are refused with errors naming them.
func TestSaveLoad(t *testing.T) {
	c := randomClassifier(t)
	defer c.Close()
	path := filepath.Join(t.TempDir(), "r.safetensors")
	if err := c.Save(path, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	d, err := Load(c.Vars.Backend, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	imgs := images(2)
	p, _ := c.Probs(imgs, true)
	q, err := d.Probs(imgs, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p {
		for k := range p[i] {
			if p[i][k] != q[i][k] {
				t.Fatalf("loaded classifier: image %d class %d %v, saved one %v", i, k, q[i][k], p[i][k])
			}
		}
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != Format || f.Metadata["note"] != "test" {
		t.Errorf("metadata %v, want format %q and the note", f.Metadata, Format)
	}
	f.Close()
	other := filepath.Join(t.TempDir(), "other.safetensors")
	if err := safetensors.Save(other, []safetensors.Array{safetensors.F32("conv1.weight", []int{1}, []float32{1})}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(c.Vars.Backend, other); err == nil || !strings.Contains(err.Error(), "other.safetensors") {
		t.Errorf("loading another network's file: error %v, want one naming the file", err)
	}
	if _, err := c.Probs([][]float32{make([]float32, 27*28)}, false); err == nil || !strings.Contains(err.Error(), "image 0") {
		t.Errorf("a 27x28 image: error %v, want one naming image 0", err)
	}
}

// TestRecipeValidate refuses recipes that cannot train.
func TestRecipeValidate(t *testing.T) {
	if err := CommittedRecipe.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []Recipe{{Epochs: 0, Batch: 8, LR: 1}, {Epochs: 1, Batch: 0, LR: 1}, {Epochs: 1, Batch: 8, LR: math.NaN()},
		{Epochs: 1, Batch: 8, LR: 1, WD: -1}, {Epochs: 1, Batch: 8, LR: 1, Crop: -1}} {
		if r.Validate() == nil {
			t.Errorf("recipe %+v accepted", r)
		}
	}
}

// TestCommittedAccuracy runs data/checkpoints/fashion_resnet.safetensors over the Fashion-MNIST test
// set: the accuracies must be the ones its metadata reports, and at least 93.0% with flip TTA.
func TestCommittedAccuracy(t *testing.T) {
	root, err := lesson.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "data", "checkpoints", "fashion_resnet.safetensors")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the committed ResNet is missing: %v", err)
	}
	test, err := data.FashionMNIST("test")
	if err != nil {
		t.Skipf("Fashion-MNIST not available: %v", err)
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(be, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata
	f.Close()
	full := !(be.Name() == "Go Backend" || testing.Short())
	if !full {
		test = test.Subset(1000)
	}
	for _, tta := range []bool{false, true} {
		acc, err := c.Accuracy(test, tta)
		if err != nil {
			t.Fatal(err)
		}
		key := map[bool]string{false: "test_accuracy", true: "test_accuracy_tta"}[tta]
		t.Logf("TTA %v: accuracy %.2f%% on %d test images (metadata %s)", tta, 100*acc, test.N, md[key])
		if !full {
			if acc < 0.9 {
				t.Errorf("TTA %v: accuracy %.2f%% on the first %d test images, want >= 90%%", tta, 100*acc, test.N)
			}
			continue
		}
		want, err := strconv.ParseFloat(md[key], 64)
		if err != nil {
			t.Fatalf("metadata %s = %q: %v", key, md[key], err)
		}
		if math.Abs(acc-want) > 0.0006 {
			t.Errorf("TTA %v: accuracy %.4f, metadata says %.4f", tta, acc, want)
		}
		if tta && acc < 0.930 {
			t.Errorf("accuracy with TTA %.2f%%, want >= 93.0%%", 100*acc)
		}
	}
}
