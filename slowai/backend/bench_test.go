package backend

// Benchmarks of the workloads W1 and W2 of shared/bench/WORKLOADS.md on every engine available here, each
// also reporting the engine's 1024x1024 float32 GEMM rate measured in the same process, so that runs on
// a busy machine can be compared. W3 (the DDPM U-Net training step) is benchmarked by the package that
// builds the U-Net. Reproduce PERFORMANCE.md with:
//
//	go test ./slowai/backend/ -run '^$' -bench . -count 5

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
)

// benchEngines runs fn for each engine that can start here.
func benchEngines(b *testing.B, fn func(b *testing.B, be compute.Backend)) {
	for _, name := range Available() {
		be, err := NewNamed(name)
		if err != nil {
			b.Fatalf("%s: %+v", name, err)
		}
		b.Run(name, func(b *testing.B) { fn(b, be) })
	}
}

var (
	gemmMu    sync.Mutex
	gemmRates = map[compute.Backend]float64{}
)

// reportGEMM reports the engine's 1024x1024 float32 matrix product rate (best of a few), measured once per
// process and engine. Call it after the timed loop: b.ResetTimer drops metrics reported before it.
func reportGEMM(b *testing.B, be compute.Backend) {
	b.Helper()
	gemmMu.Lock()
	defer gemmMu.Unlock()
	rate, ok := gemmRates[be]
	if !ok {
		const n = 1024
		rng := rand.New(rand.NewPCG(1, 1))
		x := randTensor32(rng, n, n)
		mm := MustNewExec(be, func(a, c *Node) *Node { return MatMul(a, c) })
		defer mm.Finalize()
		best := time.Duration(1 << 62)
		for range 4 {
			start := time.Now()
			out := mm.MustExec(x, x)
			_ = out[0].Shape()
			out[0].MustFinalizeAll()
			best = min(best, time.Since(start))
		}
		rate = 2 * n * n * n / best.Seconds() / 1e9
		gemmRates[be] = rate
	}
	b.ReportMetric(rate, "gemm-GFLOP/s")
}

// timedLoop runs fn for the benchmark's iterations and returns the median and the fastest iteration: with
// other processes competing for the cores, the mean (ns/op) mostly measures them.
func timedLoop(b *testing.B, fn func()) (median, best time.Duration) {
	b.Helper()
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		fn()
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[len(times)/2], times[0]
}

func randTensor32(rng *rand.Rand, dims ...int) *tensors.Tensor {
	data := make([]float32, size(dims))
	for i := range data {
		data[i] = rng.Float32()*2 - 1
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// w1Step is one SGD step of the MLP 784-100-10 (ReLU) with softmax cross-entropy, as a pure function
// from parameters and a batch to the updated parameters and the loss.
func w1Step(params []*Node, x, onehot *Node) []*Node {
	const lr = 0.1
	w1, b1, w2, b2 := params[0], params[1], params[2], params[3]
	h := activation.Relu(Add(MatMul(x, w1), ExpandAxes(b1, 0)))
	logits := Add(MatMul(h, w2), ExpandAxes(b2, 0))
	loss := Neg(ReduceAllMean(ReduceSum(Mul(onehot, LogSoftmax(logits, -1)), -1)))
	grads := Gradient(loss, params...)
	out := make([]*Node, 0, 5)
	for i, p := range params {
		out = append(out, Sub(p, MulScalar(grads[i], lr)))
	}
	return append(out, loss)
}

// BenchmarkW1MLPStep: W1, one SGD step of an MLP 784-100-10 on a batch of 256; reports the median and
// best ms/step.
func BenchmarkW1MLPStep(b *testing.B) {
	const batch = 256
	benchEngines(b, func(b *testing.B, be compute.Backend) {
		rng := rand.New(rand.NewPCG(2, 2))
		params := []*tensors.Tensor{randTensor32(rng, 784, 100), randTensor32(rng, 100), randTensor32(rng, 100, 10),
			randTensor32(rng, 10)}
		for _, p := range params {
			tensors.MutableFlatData(p, func(flat []float32) {
				for i := range flat {
					flat[i] *= 0.05
				}
			})
		}
		x := randTensor32(rng, batch, 784)
		onehot := make([]float32, batch*10)
		for i := range batch {
			onehot[i*10+rng.IntN(10)] = 1
		}
		y := tensors.FromFlatDataAndDimensions(onehot, batch, 10)
		step := MustNewExec(be, func(xs []*Node) []*Node { return w1Step(xs[:4], xs[4], xs[5]) })
		defer step.Finalize()
		run := func() {
			outs := step.MustExec(params[0], params[1], params[2], params[3], x, y)
			for _, p := range params {
				p.MustFinalizeAll()
			}
			params = outs[:4]
			outs[4].MustFinalizeAll()
		}
		run() // compile.
		b.ResetTimer()
		median, best := timedLoop(b, run)
		b.ReportMetric(median.Seconds()*1e3, "ms/step")
		b.ReportMetric(best.Seconds()*1e3, "best-ms/step")
		reportGEMM(b, be)
	})
}

// w2FLOP is the forward cost of W2: a 3x3 convolution of 64x28x28x32 to 64 channels.
const w2FLOP = 2 * 64 * 28 * 28 * 64 * 32 * 9

func w2Inputs() (x, k *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(3, 3))
	return randTensor32(rng, 64, 28, 28, 32), randTensor32(rng, 3, 3, 32, 64)
}

func w2Conv(x, k *Node) *Node { return Convolve(x, k).PadSame().Done() }

// BenchmarkW2ConvForward: W2, the forward 3x3 convolution alone; reports GFLOP/s at the median and the
// best iteration.
func BenchmarkW2ConvForward(b *testing.B) {
	benchEngines(b, func(b *testing.B, be compute.Backend) {
		x, k := w2Inputs()
		conv := MustNewExec(be, w2Conv)
		defer conv.Finalize()
		run := func() { conv.MustExec(x, k)[0].MustFinalizeAll() }
		run()
		b.ResetTimer()
		median, best := timedLoop(b, run)
		b.ReportMetric(w2FLOP/median.Seconds()/1e9, "GFLOP/s")
		b.ReportMetric(w2FLOP/best.Seconds()/1e9, "best-GFLOP/s")
		reportGEMM(b, be)
	})
}

// BenchmarkW2ConvForwardBackward: W2, forward and the gradients of sum(y²) with respect to input and
// kernel, counted as 3x the forward FLOPs; reports GFLOP/s at the median and the best iteration.
func BenchmarkW2ConvForwardBackward(b *testing.B) {
	benchEngines(b, func(b *testing.B, be compute.Backend) {
		x, k := w2Inputs()
		step := MustNewExec(be, func(x, k *Node) (*Node, *Node) {
			g := Gradient(ReduceAllSum(Square(w2Conv(x, k))), x, k)
			return g[0], g[1]
		})
		defer step.Finalize()
		run := func() {
			for _, t := range step.MustExec(x, k) {
				t.MustFinalizeAll()
			}
		}
		run()
		b.ResetTimer()
		median, best := timedLoop(b, run)
		b.ReportMetric(3*w2FLOP/median.Seconds()/1e9, "GFLOP/s")
		b.ReportMetric(3*w2FLOP/best.Seconds()/1e9, "best-GFLOP/s")
		reportGEMM(b, be)
	})
}
