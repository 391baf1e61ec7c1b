package ddpm

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/nn"
)

// tinyConfig has every part of lesson 13's architecture (two levels, a channel change, a downsample
// and an upsample) at a size the pure-Go backend trains in well under a second per step.
func tinyConfig() Config {
	return Config{InChannels: 1, Size: 8, Channels: []int{8, 16}, EmbDim: 16, Groups: 4, Schedule: "cosine", T: 100}
}

// tinyData is a synthetic 6x6 data set (padded to 8x8 by the trainer): bright squares at a few places.
func tinyData(n int) *data.Dataset {
	ds := &data.Dataset{Name: "squares", N: n, C: 1, H: 6, W: 6, Images: make([]float32, n*36), Labels: make([]int, n)}
	for i := range n {
		r, c := i%4, (i/4)%4
		for y := r; y < r+3; y++ {
			for x := c; x < c+3; x++ {
				ds.Images[i*36+y*6+x] = 1
			}
		}
	}
	return ds
}

func goBackend(t testing.TB) compute.Backend {
	be, err := backend.NewNamed("go")
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func shapeOf(dims []int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// TestParamCount checks lesson 13's U-Net has exactly 1,433,377 parameters, counted by hand from the architecture.
func TestParamCount(t *testing.T) {
	if got := DefaultConfig().NumParams(); got != 1433377 {
		t.Fatalf("the U-Net has %d parameters, want 1,433,377", got)
	}
	// Independent count from the architecture text: time MLP, in/out convs, down/mid/up blocks.
	res := func(ci, co int) int {
		n := 2*ci + ci*co*9 + co + 128*co + co + 2*co + co*co*9 + co
		if ci != co {
			n += ci*co + co
		}
		return n
	}
	want := 2*(128*128+128) + 9*32 + 32 + res(32, 32) + 9*32*32 + 32 + res(32, 64) + 9*64*64 + 64 + res(64, 128) +
		res(128, 128) + res(256, 128) + res(192, 64) + res(96, 32) + 64 + 9*32 + 1
	if want != 1433377 {
		t.Fatalf("hand count %d", want)
	}
}

// TestForwardUsesEveryParam builds the full forward pass and checks the output shape and that
// each parameter in Specs is used exactly once.
func TestForwardUsesEveryParam(t *testing.T) {
	be := goBackend(t)
	cfg := DefaultConfig()
	specs := cfg.Specs()
	var uses map[string]int
	g := NewGraph(be, "w3")
	var nodes []*Node
	for _, s := range specs {
		nodes = append(nodes, Parameter(g, s.Name, shapeOf(s.Shape)))
	}
	p := NewParams(specs, nodes)
	x := Parameter(g, "x", shapeOf([]int{2, 1, 32, 32}))
	tt := Parameter(g, "t", shapeOf([]int{2}))
	out := cfg.UNet(p, x, tt)
	uses = p.Uses()
	if got := out.Shape().Dimensions; !equalInts(got, []int{2, 1, 32, 32}) {
		t.Fatalf("output shape %v, want [2 1 32 32]", got)
	}
	for _, s := range specs {
		if uses[s.Name] != 1 {
			t.Errorf("parameter %s used %d times", s.Name, uses[s.Name])
		}
	}
	if len(uses) != len(specs) {
		t.Errorf("%d distinct parameters used, %d specs", len(uses), len(specs))
	}
}

// TestTimestepEmbedding compares with the closed form sin/cos(t·exp(-i·ln(10000)/half)).
func TestTimestepEmbedding(t *testing.T) {
	be := goBackend(t)
	ts := []float32{0, 1, 37, 999}
	out, err := ExecOnce(be, func(x *Node) *Node { return TimestepEmbedding(x, 8) }, ts)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Value().([][]float32)
	for b, tv := range ts {
		for i := range 4 {
			f := math.Exp(-float64(i) * math.Log(10000) / 4)
			if d := math.Abs(float64(got[b][i]) - math.Sin(float64(tv)*f)); d > 1e-3 {
				t.Errorf("t=%v sin[%d]: got %v want %v", tv, i, got[b][i], math.Sin(float64(tv)*f))
			}
			if d := math.Abs(float64(got[b][4+i]) - math.Cos(float64(tv)*f)); d > 1e-3 {
				t.Errorf("t=%v cos[%d]: got %v want %v", tv, i, got[b][4+i], math.Cos(float64(tv)*f))
			}
		}
	}
}

// TestSubsampleMatchesStride checks that a stride-1 conv followed by SubsampleEven equals the
// stride-2 conv, values and gradients, so SubsampleDown changes speed only.
func TestSubsampleMatchesStride(t *testing.T) {
	be := goBackend(t)
	x := randTensor(1, 2, 3, 8, 8)
	w := randTensor(2, 4, 3, 3, 3)
	f := func(sub bool) func(x, w *Node) []*Node {
		return func(x, w *Node) []*Node {
			var y *Node
			if sub {
				y = SubsampleEven(nn.Conv2D(x, w, nil, nn.ConvOpts{Padding: nn.Pair(1)}))
			} else {
				y = nn.Conv2D(x, w, nil, nn.ConvOpts{Padding: nn.Pair(1), Stride: nn.Pair(2)})
			}
			loss := ReduceAllSum(Mul(y, y))
			gr := Gradient(loss, x, w)
			return []*Node{y, gr[0], gr[1]}
		}
	}
	a, err := ExecOnceN(be, f(false), x, w)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ExecOnceN(be, f(true), x, w)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"output", "grad x", "grad w"} {
		av, bv := flat(t, a[i]), flat(t, b[i])
		if len(av) != len(bv) {
			t.Fatalf("%s: sizes %d vs %d", name, len(av), len(bv))
		}
		for j := range av {
			if math.Abs(float64(av[j]-bv[j])) > 1e-4*(1+math.Abs(float64(av[j]))) {
				t.Fatalf("%s[%d]: stride %v, subsample %v", name, j, av[j], bv[j])
			}
		}
	}
}

// TestLRSchedule checks warm-up, the cosine's midpoint and the floor.
func TestLRSchedule(t *testing.T) {
	c := TrainConfig{Steps: 1100, Warmup: 100, LR: 1, MinLRFrac: 0.1}.WithDefaults()
	cases := []struct {
		step int
		want float64
	}{{50, 0.5}, {100, 1}, {600, 0.55}, {1100, 0.1}, {5000, 0.1}}
	for _, cs := range cases {
		if got := c.LRAt(cs.step); math.Abs(got-cs.want) > 1e-12 {
			t.Errorf("LRAt(%d) = %v, want %v", cs.step, got, cs.want)
		}
	}
}

// TestTrainingLearns trains the tiny U-Net on squares: the loss must fall well below the ~1 of
// predicting zero noise.
func TestTrainingLearns(t *testing.T) {
	be := goBackend(t)
	tr, err := NewTrainer(be, tinyConfig(), TrainConfig{Steps: 60, BatchSize: 16, LR: 1e-2, Seed: 3}, tinyData(64))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Finalize()
	if err := tr.Run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	first := mean(tr.Losses[:10])
	last := mean(tr.Losses[len(tr.Losses)-10:])
	t.Logf("loss first 10 steps %.3f, last 10 %.3f", first, last)
	if !(last < 0.6*first) || !(last < 0.6) {
		t.Fatalf("loss did not fall: first %.3f, last %.3f", first, last)
	}
}

// TestSameSeedSameRun: two runs from one seed give bit-identical losses and weights; another seed differs.
func TestSameSeedSameRun(t *testing.T) {
	be := goBackend(t)
	run := func(seed uint64) ([]float64, [][]float32) {
		tr, err := NewTrainer(be, tinyConfig(), TrainConfig{Steps: 4, BatchSize: 8, Seed: seed}, tinyData(32))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Finalize()
		if err := tr.Run(RunOptions{}); err != nil {
			t.Fatal(err)
		}
		w, err := tr.Weights()
		if err != nil {
			t.Fatal(err)
		}
		return tr.Losses, w
	}
	l1, w1 := run(7)
	l2, w2 := run(7)
	l3, _ := run(8)
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("step %d: losses %v vs %v from the same seed", i, l1[i], l2[i])
		}
	}
	for i := range w1 {
		for j := range w1[i] {
			if w1[i][j] != w2[i][j] {
				t.Fatalf("weight %d[%d] differs between runs from the same seed", i, j)
			}
		}
	}
	if l1[0] == l3[0] {
		t.Fatalf("seeds 7 and 8 gave the same first loss %v", l1[0])
	}
}

// TestCheckpointResume: stopping after 3 steps, saving, loading and resuming for 3 more gives the
// same losses and weights as 6 uninterrupted steps; a weights-only file loads back exactly.
func TestCheckpointResume(t *testing.T) {
	be := goBackend(t)
	ds := tinyData(20) // 20 images, batch 8: the resume point falls inside an epoch
	tc := TrainConfig{Steps: 6, BatchSize: 8, Seed: 11}
	full, err := NewTrainer(be, tinyConfig(), tc, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Finalize()
	if err := full.Run(RunOptions{}); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "ck.safetensors")
	half, err := NewTrainer(be, tinyConfig(), tc, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Finalize()
	if err := half.Run(RunOptions{CheckpointPath: path, CheckpointEvery: 100, MaxSteps: 3}); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 3 || len(ck.Losses()) != 3 || ck.M == nil || ck.EMA == nil {
		t.Fatalf("checkpoint: step %d, %d losses, moments %v, ema %v", ck.Step, len(ck.Losses()), ck.M != nil, ck.EMA != nil)
	}
	res, err := Resume(be, ck, ds, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Finalize()
	if err := res.Run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range full.Losses {
		if full.Losses[i] != res.Losses[i] {
			t.Fatalf("step %d: uninterrupted loss %v, resumed %v", i+1, full.Losses[i], res.Losses[i])
		}
	}
	wf, _ := full.Weights()
	wr, _ := res.Weights()
	ef, _ := full.EMAWeights()
	er, _ := res.EMAWeights()
	for i := range wf {
		for j := range wf[i] {
			if wf[i][j] != wr[i][j] || ef[i][j] != er[i][j] {
				t.Fatalf("param %d[%d]: uninterrupted %v (ema %v), resumed %v (ema %v)", i, j, wf[i][j], ef[i][j], wr[i][j], er[i][j])
			}
		}
	}

	small := filepath.Join(t.TempDir(), "w.safetensors")
	if err := SaveWeights(small, tinyConfig(), ef, res.Losses, map[string]string{"step": "6"}); err != nil {
		t.Fatal(err)
	}
	ck2, err := LoadCheckpoint(small)
	if err != nil {
		t.Fatal(err)
	}
	if ck2.EMA != nil || ck2.M != nil || ck2.Step != 6 || len(ck2.Losses()) != 6 {
		t.Fatalf("weights-only file: ema %v, moments %v, step %d, %d losses", ck2.EMA != nil, ck2.M != nil, ck2.Step, len(ck2.Losses()))
	}
	for i := range ef {
		for j := range ef[i] {
			if ck2.Best()[i][j] != ef[i][j] {
				t.Fatalf("weights-only file changed param %d[%d]", i, j)
			}
		}
	}
}

// TestSampleShapesAndRange samples from the tiny (untrained) model: DDIM is deterministic given
// the seed, values stay in [-1,1] (x0 is clipped and the last DDIM step lands on it) and the
// trajectory keeps the requested steps.
func TestSampleShapesAndRange(t *testing.T) {
	be := goBackend(t)
	cfg := tinyConfig()
	d, err := NewDenoiser(be, cfg, cfg.Init(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Finalize()
	a, traj, err := d.Sample(SampleOptions{N: 3, Batch: 2, Steps: 10, Seed: 5, Every: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := d.Sample(SampleOptions{N: 3, Batch: 2, Steps: 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 || len(a[0]) != 64 {
		t.Fatalf("got %d samples of %d values, want 3 of 64", len(a), len(a[0]))
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("DDIM with the same seed differs at sample %d[%d]", i, j)
			}
			if a[i][j] < -1.0001 || a[i][j] > 1.0001 {
				t.Fatalf("sample value %v outside [-1,1]", a[i][j])
			}
		}
	}
	if want := []int{0, 4, 9}; !equalInts(traj.Steps, want) || len(traj.X[0]) != 2*64 {
		t.Fatalf("trajectory steps %v (want %v), frame size %d", traj.Steps, want, len(traj.X[0]))
	}
	u := ToUnit([][]float32{a[0]}, 8, 6, 6)
	if len(u[0]) != 36 {
		t.Fatalf("ToUnit gave %d values, want 36", len(u[0]))
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func randTensor(seed uint64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	x := seed*2654435761 + 1
	for i := range v {
		x = x*6364136223846793005 + 1442695040888963407
		v[i] = float32(int64(x>>33)%2001-1000) / 1000
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func flat(t *testing.T, x *tensors.Tensor) []float32 {
	v, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCommittedDenoiser loads the committed checkpoint and checks it is a trained lesson-13 denoiser:
// on real Fashion-MNIST images noised to t = 300 it predicts the noise with an MSE far below the
// 1.0 of guessing zero.
func TestCommittedDenoiser(t *testing.T) {
	root, err := lesson.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "data", "checkpoints", "ddpm_fashion.safetensors")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no committed checkpoint: %v", err)
	}
	ds, err := data.FashionMNIST("test")
	if err != nil {
		t.Skipf("Fashion-MNIST not available: %v", err)
	}
	d, ck, err := LoadDenoiser(goBackend(t), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Finalize()
	if ck.Config.NumParams() != 1433377 {
		t.Fatalf("committed checkpoint has %d parameters", ck.Config.NumParams())
	}
	tr := &Trainer{Config: ck.Config, ds: ds.Subset(8)}
	x0 := tr.nextBatch(8)
	sched, err := ck.Config.NoiseSchedule()
	if err != nil {
		t.Fatal(err)
	}
	eps := make([]float32, len(x0))
	if err := diffusion.NewGaussian(1).Normal(eps); err != nil {
		t.Fatal(err)
	}
	ts := []int{300, 300, 300, 300, 300, 300, 300, 300}
	xt, err := sched.QSampleBatch(x0, eps, ts)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := d.Predict(xt, ts)
	if err != nil {
		t.Fatal(err)
	}
	mse := 0.0
	for i := range pred {
		mse += float64((pred[i] - eps[i]) * (pred[i] - eps[i]))
	}
	mse /= float64(len(pred))
	t.Logf("noise-prediction MSE at t=300: %.4f", mse)
	if mse > 0.2 {
		t.Fatalf("noise-prediction MSE %.3f at t=300, want < 0.2 from a trained denoiser", mse)
	}
}

// TestLoadCheckpointRefusesDamage: a NaN weight or a corrupt noise-generator state is refused at
// load time, and the error names the file and what is wrong (the tensor, the "rng" field).
func TestLoadCheckpointRefusesDamage(t *testing.T) {
	cfg := tinyConfig()
	specs := cfg.Specs()
	weights := make([][]float32, len(specs))
	for i, s := range specs {
		weights[i] = make([]float32, s.Size())
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := SaveWeights(good, cfg, weights, nil, map[string]string{"rng": "zz"}); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCheckpoint(good)
	if err == nil || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), `"rng"`) {
		t.Errorf("corrupt rng: error %v, want it to name %s and the \"rng\" field", err, good)
	}
	weights[2][1] = float32(math.NaN())
	nan := filepath.Join(dir, "nan.safetensors")
	if err := SaveWeights(nan, cfg, weights, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = LoadCheckpoint(nan)
	want := fmt.Sprintf("tensor %q", specs[2].Name)
	if err == nil || !strings.Contains(err.Error(), nan) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN weight: error %v, want it to name %s, %s and NaN", err, nan, want)
	}
}
