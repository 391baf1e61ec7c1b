package ddpm

import (
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

// BenchmarkW3 times the course's benchmark workload W3: one AdamW training step of the
// 1.43M-parameter DDPM U-Net on a batch of 128 1x32x32 images, per backend, two ways in
// alternation: through the Learner (Fit for one step: loader, Noising, the compiled step with EMA,
// callbacks) and as a bare model.Exec of the same step graph fed the same kind of batch. It reports
// the Learner's images/s at the median step (and at the fastest) after two warm-up steps of each,
// the training GFLOP/s that implies (3x the forward FLOPs), the median milliseconds of both ways,
// the Learner's overhead over the bare step (ratio of the medians, and median of the ratios of
// steps taken back to back), and, in the same run, a 1024x1024 float32 GEMM's
// GFLOP/s on the same backend, so a figure can be read against the machine's load.
//
//	go test ./slowai/ddpm/ -run '^$' -bench W3 -benchtime 5x
//
// SLOWAI_BENCH_BACKENDS (comma-separated, default "onnx,go") picks the backends.
func BenchmarkW3(b *testing.B) {
	names := []string{"onnx", "go"}
	if v := os.Getenv("SLOWAI_BENCH_BACKENDS"); v != "" {
		names = splitComma(v)
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			be, err := backend.NewNamed(name)
			if err != nil {
				b.Skip(err)
			}
			cfg := DefaultConfig()
			l, err := NewLearner(be, cfg, TrainConfig{Steps: 1 << 30, BatchSize: 128, Seed: 1}, randomImages(512))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			learnerStep := func() {
				if err := l.Fit(2, learn.StopAfter{Steps: l.Step + 1}); err != nil {
					b.Fatal(err)
				}
			}
			bare := newBareStep(b, l, cfg)
			defer bare.exec.Finalize()
			// Two warm-up steps each: the first compiles, and in the second ONNX Runtime lays out (and
			// the kernel maps) the memory its later runs reuse, which made it up to 2x slower than the rest.
			for range 2 {
				learnerStep()
				bare.step()
			}
			gemm := gemmGFLOPs(b, be)
			b.ResetTimer()
			var viaLearner, viaBare []float64
			for i := range b.N {
				timeIt := func(f func(), into *[]float64) {
					start := time.Now()
					f()
					*into = append(*into, time.Since(start).Seconds())
				}
				if i%2 == 0 { // alternate which goes first
					timeIt(learnerStep, &viaLearner)
					timeIt(bare.step, &viaBare)
				} else {
					timeIt(bare.step, &viaBare)
					timeIt(learnerStep, &viaLearner)
				}
			}
			b.StopTimer()
			// Each Learner step against the bare step next to it in time, which saw the same
			// machine load: the median of these ratios is steadier than the ratio of medians.
			pairs := make([]float64, len(viaLearner))
			for i := range pairs {
				pairs[i] = viaLearner[i] / viaBare[i]
			}
			slices.Sort(pairs)
			slices.Sort(viaLearner)
			slices.Sort(viaBare)
			median, medianBare := viaLearner[len(viaLearner)/2], viaBare[len(viaBare)/2]
			ips := 128 / median
			b.ReportMetric(ips, "images/s")
			b.ReportMetric(128/viaLearner[0], "best-images/s")
			b.ReportMetric(ips*3*cfg.FLOPsPerImage()/1e9, "train-GFLOP/s")
			b.ReportMetric(1e3*median, "learner-ms")
			b.ReportMetric(1e3*medianBare, "bare-ms")
			b.ReportMetric(100*(median/medianBare-1), "learner-overhead-%")
			b.ReportMetric(100*(pairs[len(pairs)/2]-1), "paired-overhead-%")
			b.ReportMetric(gemm, "gemm1024-GFLOP/s")
		})
	}
}

// bareStep is the Learner's training step without the Learner: a model.Exec over the same
// store (weights, AdamW moments, EMA) computing forward, ε-MSE, gradients, AdamW and the EMA,
// fed batches from the same loader through the same Noising.
type bareStep struct {
	b     *testing.B
	l     *learn.Learner
	exec  *model.Exec
	prep  learn.PrepareFunc
	rng   *rand.Rand
	count int
}

func newBareStep(b *testing.B, l *learn.Learner, cfg Config) *bareStep {
	sched, err := cfg.NoiseSchedule()
	if err != nil {
		b.Fatal(err)
	}
	unet := NewUNet(cfg)
	opt := l.Opt
	slot := func(name string) module.Vars {
		v := l.Vars
		v.Prefix = "/opt/" + name
		return v
	}
	exec, err := model.NewExec(l.Backend(), l.Vars.Store, func(_ *model.Scope, in []*Node) []*Node {
		g := in[0].Graph()
		h := optim.Hyper{LR: in[0], Mom: in[1], Step: in[2]}
		v := l.Vars
		v.Train = true
		pred := unet.Forward(v, in[4:6])
		loss := learn.MSE(pred, in[6:])
		specs := unet.Specs().List()
		params := make([]*Node, len(specs))
		for i, sp := range specs {
			params[i] = v.Node(g, sp.Name)
		}
		grads := Gradient(loss, params...)
		ema := l.EMAVars()
		for i, sp := range specs {
			slots := make([]*Node, len(opt.Slots()))
			for j, s := range opt.Slots() {
				slots[j] = slot(s).Node(g, sp.Name)
			}
			p, newSlots := opt.Update(params[i], grads[i], slots, h)
			v.SetNode(sp.Name, p)
			for j, s := range opt.Slots() {
				slot(s).SetNode(sp.Name, newSlots[j])
			}
			ema.SetNode(sp.Name, optim.EMAUpdate(ema.Node(g, sp.Name), p, in[3]))
		}
		return []*Node{loss, pred}
	})
	if err != nil {
		b.Fatal(err)
	}
	return &bareStep{b: b, l: l, exec: exec, prep: Noising(sched), rng: rand.New(rand.NewPCG(9, 9))}
}

func (s *bareStep) step() {
	dl := s.l.Data.Train
	hb, ok := dl.Next()
	if !ok {
		hb, _ = dl.Next()
	}
	batch, err := s.prep(hb, s.rng)
	if err != nil {
		s.b.Fatal(err)
	}
	s.count++
	args := []any{float32(1e-4), float32(0.9), float32(s.count), float32(optim.EMADecay(s.count, 0.999))}
	for _, t := range append(batch.Inputs, batch.Targets...) {
		args = append(args, t)
	}
	outs, err := s.exec.Exec(args...)
	if err != nil {
		s.b.Fatal(err)
	}
	_ = tensors.MustCopyFlatData[float32](outs[0]) // the Learner reads the loss back too
	for _, o := range outs {
		o.FinalizeAll()
	}
}

// gemmGFLOPs times a 1024x1024 by 1024x1024 float32 matmul (best of 5 after a warm-up).
func gemmGFLOPs(b *testing.B, be compute.Backend) float64 {
	const n = 1024
	v := make([]float32, n*n)
	for i := range v {
		v[i] = float32(i%7) - 3
	}
	x := tensors.FromFlatDataAndDimensions(v, n, n)
	e, err := NewExec(be, func(a, c *Node) *Node { return MatMul(a, c) })
	if err != nil {
		b.Fatal(err)
	}
	defer e.Finalize()
	best := 1e9
	for i := range 6 {
		st := time.Now()
		out, err := e.Call(x, x)
		if err != nil {
			b.Fatal(err)
		}
		out[0].FinalizeAll()
		if d := time.Since(st).Seconds(); i > 0 && d < best {
			best = d
		}
	}
	return 2 * n * n * n / best / 1e9
}

// randomImages is a synthetic 28x28 data set: the benchmark measures speed, not learning.
func randomImages(n int) *data.Dataset {
	r := rand.New(rand.NewPCG(1, 2))
	ds := &data.Dataset{Name: "random", N: n, C: 1, H: 28, W: 28, Images: make([]float32, n*784), Labels: make([]int, n)}
	for i := range ds.Images {
		ds.Images[i] = r.Float32()
	}
	return ds
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
