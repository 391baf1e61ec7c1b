package fashionclf

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/safetensors"
)

func goBackend(t *testing.T) compute.Backend {
	be, err := backend.NewNamed("go")
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// TestJudge checks the verdict's counts, shares and mean top probability on hand-made rows.
func TestJudge(t *testing.T) {
	row := func(k int, p float32) []float32 {
		r := make([]float32, NumClasses)
		for i := range r {
			r[i] = (1 - p) / (NumClasses - 1)
		}
		r[k] = p
		return r
	}
	v := Judge([][]float32{row(3, 0.9), row(3, 0.5), row(7, 0.7), row(0, 0.3)})
	if v.N != 4 || v.Counts[3] != 2 || v.Counts[7] != 1 || v.Counts[0] != 1 {
		t.Fatalf("counts %v", v.Counts)
	}
	if math.Abs(v.Fractions[3]-0.5) > 1e-12 || v.MinFraction() != 0 {
		t.Fatalf("fractions %v, min %v", v.Fractions, v.MinFraction())
	}
	if want := (0.9 + 0.5 + 0.7 + 0.3) / 4; math.Abs(v.MeanTopProb-want) > 1e-6 {
		t.Fatalf("mean top prob %v, want %v", v.MeanTopProb, want)
	}
}

// bars is a two-class synthetic set: a bright horizontal bar (class 0) or vertical bar (class 1)
// at a random-looking place.
func bars(n int) *data.Dataset {
	ds := &data.Dataset{Name: "bars", N: n, C: 1, H: H, W: W, Images: make([]float32, n*H*W), Labels: make([]int, n)}
	for i := range n {
		pos := 4 + (i*7)%20
		ds.Labels[i] = i % 2
		for j := 2; j < 26; j++ {
			for w := range 3 {
				if i%2 == 0 {
					ds.Images[i*H*W+(pos+w)*W+j] = 1
				} else {
					ds.Images[i*H*W+j*W+pos+w] = 1
				}
			}
		}
	}
	return ds
}

// TestTrainSaveLoad trains on bars through the Learner in two stages (the loss must fall and the
// bars be told apart), then checks that a saved and reloaded classifier gives the same
// probabilities.
func TestTrainSaveLoad(t *testing.T) {
	be := goBackend(t)
	ds := bars(64)
	rec := &learn.Recorder{}
	stages := []Stage{{Epochs: 10, LR: 2e-3, Flip: true}, {Epochs: 2, LR: 1e-3}}
	c, l, err := Train(be, ds, nil, 32, 1, stages, rec)
	if err != nil {
		t.Fatal(err)
	}
	losses := rec.Losses
	if len(losses) != 24 || l.Step != 24 {
		t.Fatalf("%d losses after %d steps, want 24 (12 epochs of 2 batches)", len(losses), l.Step)
	}
	// Each stage's learning rate starts at its peak and decays to 5 % of it.
	if rec.LRs[0] != 2e-3 || math.Abs(rec.LRs[19]-1e-4) > 1e-12 || rec.LRs[20] != 1e-3 || math.Abs(rec.LRs[23]-5e-5) > 1e-12 {
		t.Fatalf("learning rates %v", rec.LRs)
	}
	if losses[len(losses)-1] > 0.5*losses[0] {
		t.Fatalf("loss %v → %v did not fall", losses[0], losses[len(losses)-1])
	}
	acc, err := c.Accuracy(ds)
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.95 {
		t.Fatalf("accuracy on bars %.2f, want >= 0.95", acc)
	}
	path := filepath.Join(t.TempDir(), "clf.safetensors")
	if err := c.Save(path, acc); err != nil {
		t.Fatal(err)
	}
	c2, err := Load(be, path)
	if err != nil {
		t.Fatal(err)
	}
	imgs := [][]float32{ds.Image(0), ds.Image(1)}
	p1, _ := c.Probs(imgs)
	p2, err := c2.Probs(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p1 {
		for j := range p1[i] {
			if p1[i][j] != p2[i][j] {
				t.Fatalf("reloaded classifier differs: %v vs %v", p1[i], p2[i])
			}
		}
	}
}

// TestLoadRejects: a file with another model's tensors fails with the file's name.
func TestLoadRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := safetensors.Save(path, []safetensors.Array{safetensors.F32("conv1.weight", []int{2, 2}, make([]float32, 4))}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Load(goBackend(t), path)
	if err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Fatalf("Load of a wrong file: %v", err)
	}
}

// TestCommittedAccuracy checks the committed classifier reaches 90 % on Fashion-MNIST's test set
// (the first 2,000 images on the slow pure-Go backend).
func TestCommittedAccuracy(t *testing.T) {
	root, err := lesson.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "data", "checkpoints", "fashion_classifier.safetensors")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no committed classifier: %v", err)
	}
	test, err := data.FashionMNIST("test")
	if err != nil {
		t.Skipf("Fashion-MNIST not available: %v", err)
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	if be.Name() == "Go Backend" || testing.Short() {
		test = test.Subset(2000)
	}
	c, err := Load(be, path)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := c.Accuracy(test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy on %d test images: %.2f%%", test.N, 100*acc)
	if acc < 0.90 {
		t.Fatalf("accuracy %.2f%%, want >= 90%%", 100*acc)
	}
}

// TestLoadRefusesNaN: a weights file holding a NaN is refused by Load, naming the file and tensor.
func TestLoadRefusesNaN(t *testing.T) {
	specs, _ := Net()
	var arrays []safetensors.Array
	for _, sp := range specs.List() {
		n := 1
		for _, d := range sp.Shape {
			n *= d
		}
		arrays = append(arrays, safetensors.F32(sp.Name, sp.Shape, make([]float32, n)))
	}
	last := arrays[len(arrays)-1]
	v := make([]float32, NumClasses)
	v[0] = float32(math.Inf(1))
	arrays[len(arrays)-1] = safetensors.F32(last.Name, last.Shape, v)
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := safetensors.Save(path, arrays, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Load(goBackend(t), path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("%q", last.Name)) {
		t.Errorf("error %v, want it to name %s and tensor %q", err, path, last.Name)
	}
}
