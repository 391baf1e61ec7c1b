package ddpm

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
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

// TestForward runs the full forward pass on random weights and checks the output's shape.
func TestForward(t *testing.T) {
	be := goBackend(t)
	cfg := DefaultConfig()
	v := module.NewVarsOn("/unet", be)
	if err := module.Randomize(v, NewUNet(cfg).Specs(), 1); err != nil {
		t.Fatal(err)
	}
	d, err := NewDenoiser(cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Finalize()
	out, err := d.Predict(make([]float32, 2*32*32), []int{3, 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2*32*32 {
		t.Fatalf("output has %d values, want 2x1x32x32", len(out))
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
	lr := TrainConfig{Steps: 1100, Warmup: 100, LR: 1, MinLRFrac: 0.1}.WithDefaults().LRSchedule()
	cases := []struct {
		step int
		want float64
	}{{50, 0.5}, {100, 1}, {600, 0.55}, {1100, 0.1}, {5000, 0.1}}
	for _, cs := range cases {
		if got := lr(cs.step); math.Abs(got-cs.want) > 1e-12 {
			t.Errorf("LR at step %d = %v, want %v", cs.step, got, cs.want)
		}
	}
}

// TestNoising checks the training step's inputs: x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε for the t and ε it
// drew, t in [0, T), the target is ε, and the draws come from the generator only.
func TestNoising(t *testing.T) {
	sched := diffusion.CosineSchedule(50, 0.008)
	b := &data.Batch{N: 3, C: 1, H: 2, W: 2, X: make([]float32, 12), Y: make([]int32, 3), Index: []int{0, 1, 2}}
	for i := range b.X {
		b.X[i] = float32(i%5)/2 - 1
	}
	prep := Noising(sched)
	got, err := prep(b, rand.New(rand.NewPCG(4, 5)))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := prep(b, rand.New(rand.NewPCG(4, 5)))
	xt := tensors.MustCopyFlatData[float32](got.Inputs[0])
	ts := tensors.MustCopyFlatData[float32](got.Inputs[1])
	eps := tensors.MustCopyFlatData[float32](got.Targets[0])
	if !slices.Equal(xt, tensors.MustCopyFlatData[float32](again.Inputs[0])) {
		t.Fatal("the same generator state gave different x_t")
	}
	if dims := got.Inputs[0].Shape().Dimensions; !slices.Equal(dims, []int{3, 1, 2, 2}) || len(ts) != 3 || len(eps) != 12 {
		t.Fatalf("x_t %v, %d timesteps, %d noise values", dims, len(ts), len(eps))
	}
	for i := range xt {
		tt := int(ts[i/4])
		if tt < 0 || tt >= 50 || float32(tt) != ts[i/4] {
			t.Fatalf("timestep %v outside [0, 50)", ts[i/4])
		}
		ab := sched.AlphaBar(tt)
		want := math.Sqrt(ab)*float64(b.X[i]) + math.Sqrt(1-ab)*float64(eps[i])
		if math.Abs(float64(xt[i])-want) > 1e-5 {
			t.Fatalf("x_t[%d] = %v, want %v (t = %d)", i, xt[i], want, tt)
		}
	}
}

// TestTrainingLearns trains the tiny U-Net on squares through the Learner: the loss must fall well
// below the ~1 of predicting zero noise.
func TestTrainingLearns(t *testing.T) {
	be := goBackend(t)
	l, err := NewLearner(be, tinyConfig(), TrainConfig{Steps: 60, BatchSize: 16, LR: 1e-2, Seed: 3}, tinyData(64))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := TrainSteps(l, 60); err != nil {
		t.Fatal(err)
	}
	losses := Losses(l)
	if len(losses) != 60 || l.Step != 60 {
		t.Fatalf("%d losses after %d steps, want 60", len(losses), l.Step)
	}
	first, last := mean(losses[:10]), mean(losses[len(losses)-10:])
	t.Logf("loss first 10 steps %.3f, last 10 %.3f", first, last)
	if !(last < 0.6*first) || !(last < 0.6) {
		t.Fatalf("loss did not fall: first %.3f, last %.3f", first, last)
	}
}

// TestStepUpdatesEveryParam: one AdamW step moves every weight (so the forward pass uses every
// declared parameter) and the EMA follows with decay EMADecay(1) = 2/11.
func TestStepUpdatesEveryParam(t *testing.T) {
	be := goBackend(t)
	l, err := NewLearner(be, tinyConfig(), TrainConfig{Steps: 10, BatchSize: 8, Seed: 2}, tinyData(16))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	specs := NewUNet(tinyConfig()).Specs().List()
	before := map[string][]float32{}
	for _, sp := range specs {
		before[sp.Name], _ = module.Values(l.Vars, sp.Name)
	}
	if err := TrainSteps(l, 1); err != nil {
		t.Fatal(err)
	}
	for _, sp := range specs {
		after, _ := module.Values(l.Vars, sp.Name)
		ema, _ := module.Values(l.EMAVars(), sp.Name)
		moved := 0
		for i := range after {
			if after[i] != before[sp.Name][i] {
				moved++
			}
			want := float64(before[sp.Name][i])*2/11 + float64(after[i])*9/11
			if math.Abs(float64(ema[i])-want) > 1e-6 {
				t.Fatalf("%s[%d]: EMA %v, want %v", sp.Name, i, ema[i], want)
			}
		}
		if moved < len(after)/2 {
			t.Errorf("%s: the first step moved %d of %d values", sp.Name, moved, len(after))
		}
	}
}

// TestSameSeedSameRun: two runs from one seed give bit-identical losses and weights; another seed differs.
func TestSameSeedSameRun(t *testing.T) {
	be := goBackend(t)
	run := func(seed uint64) ([]float64, []float32) {
		l, err := NewLearner(be, tinyConfig(), TrainConfig{Steps: 4, BatchSize: 8, Seed: seed}, tinyData(32))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := TrainSteps(l, 4); err != nil {
			t.Fatal(err)
		}
		w, err := module.Values(l.Vars, "up.0.res.conv1.weight")
		if err != nil {
			t.Fatal(err)
		}
		return Losses(l), w
	}
	l1, w1 := run(7)
	l2, w2 := run(7)
	l3, _ := run(8)
	if !slices.Equal(l1, l2) || !slices.Equal(w1, w2) {
		t.Fatalf("the same seed gave losses %v and %v", l1, l2)
	}
	if l1[0] == l3[0] {
		t.Fatalf("seeds 7 and 8 gave the same first loss %v", l1[0])
	}
}

// allValues copies every variable of the Learner's store (weights, AdamW moments, EMA).
func allValues(t *testing.T, l *learn.Learner) map[string][]float32 {
	out := map[string][]float32{}
	for v := range l.Vars.Store.IterVariables() {
		out[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	return out
}

// TestCheckpointResume: stopping after 3 steps, saving, resuming in a new Learner from the file
// and running 3 more gives the same losses, weights, moments and EMA as 6 uninterrupted steps;
// the exported weights file loads back to the same EMA and samples the same.
func TestCheckpointResume(t *testing.T) {
	be := goBackend(t)
	ds := tinyData(20) // 20 images, batch 8: the resume point falls inside an epoch
	tc := TrainConfig{Steps: 6, BatchSize: 8, Seed: 11}
	full, err := NewLearner(be, tinyConfig(), tc, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	if err := TrainSteps(full, 6); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "ck.safetensors")
	half, err := NewLearner(be, tinyConfig(), tc, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	if err := TrainSteps(half, 3); err != nil {
		t.Fatal(err)
	}
	if err := half.Save(path, Meta(tinyConfig(), tc)); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 3 || len(ck.Losses()) != 3 || ck.Train.Seed != 11 {
		t.Fatalf("checkpoint: step %d, %d losses, train %+v", ck.Step, len(ck.Losses()), ck.Train)
	}
	res, _, _, err := ResumeLearner(be, path, ds, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if err := TrainSteps(res, 6); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(Losses(full), Losses(res)) {
		t.Fatalf("uninterrupted losses %v, resumed %v", Losses(full), Losses(res))
	}
	want, got := allValues(t, full), allValues(t, res)
	if len(want) != len(got) {
		t.Fatalf("%d variables vs %d", len(want), len(got))
	}
	for name, w := range want {
		if !slices.Equal(w, got[name]) {
			t.Fatalf("%s differs between the uninterrupted and the resumed run", name)
		}
	}

	// Export the EMA as a weights file; both files give the same denoiser.
	small := filepath.Join(t.TempDir(), "w.safetensors")
	if err := SaveWeights(small, tinyConfig(), res.EMAVars(), Losses(res), map[string]string{"step": "6"}); err != nil {
		t.Fatal(err)
	}
	ck2, err := LoadCheckpoint(small)
	if err != nil {
		t.Fatal(err)
	}
	if ck2.Step != 6 || len(ck2.Losses()) != 6 {
		t.Fatalf("weights file: step %d, %d losses", ck2.Step, len(ck2.Losses()))
	}
	resPath := filepath.Join(t.TempDir(), "res.safetensors")
	if err := res.Save(resPath, Meta(tinyConfig(), tc)); err != nil {
		t.Fatal(err)
	}
	var outs [][]float32
	for _, p := range []string{small, resPath} {
		d, _, err := LoadDenoiser(be, p)
		if err != nil {
			t.Fatal(err)
		}
		o, err := d.Predict(make([]float32, 64), []int{7})
		d.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	if !slices.Equal(outs[0], outs[1]) {
		t.Fatal("the weights file and the training checkpoint predict differently")
	}
}

// TestSampleShapesAndRange samples from the tiny (untrained) model: DDIM is deterministic given
// the seed, values stay in [-1,1] (x0 is clipped and the last DDIM step lands on it) and the
// trajectory keeps the requested steps.
func TestSampleShapesAndRange(t *testing.T) {
	be := goBackend(t)
	cfg := tinyConfig()
	v := module.NewVarsOn("/unet", be)
	if err := module.Randomize(v, NewUNet(cfg).Specs(), 1); err != nil {
		t.Fatal(err)
	}
	d, err := NewDenoiser(cfg, v)
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
	if want := []int{0, 4, 9}; !slices.Equal(traj.Steps, want) || len(traj.X[0]) != 2*64 {
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
	dl, err := Loader(ck.Config, ds.Subset(8), 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dl.Next()
	x0 := b.X
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

// TestLoadRefusesDamage: a NaN weight is refused at load time, and the error names the file and
// the tensor.
func TestLoadRefusesDamage(t *testing.T) {
	be := goBackend(t)
	cfg := tinyConfig()
	v := module.NewVarsOn("/unet", be)
	specs := NewUNet(cfg).Specs().List()
	for _, sp := range specs {
		if err := module.SetValues(v, sp, nil); err != nil {
			t.Fatal(err)
		}
	}
	sp := specs[4]
	if sp.Name != "conv_in.weight" {
		t.Fatalf("spec 4 is %s", sp.Name)
	}
	bad := make([]float32, 8*9) // [8, 1, 3, 3] in the tiny config
	bad[5] = float32(math.NaN())
	if err := module.SetValues(v, sp, bad); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := SaveWeights(path, cfg, v, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadDenoiser(be, path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"conv_in.weight"`) || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN weight: error %v, want it to name %s, \"conv_in.weight\" and NaN", err, path)
	}
}
