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

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
)

// BenchmarkW3 times the course's benchmark workload W3: one AdamW training step of the
// 1.43M-parameter DDPM U-Net on a batch of 128 1x32x32 images, per backend. It reports images/s at the
// median step (and at the fastest) after two warm-up steps, the training GFLOP/s that implies (3x the
// forward FLOPs), and, in the same run, a 1024x1024 float32 GEMM's GFLOP/s on the same backend, so a
// figure can be read against the machine's load.
//
//	go test ./slowai/ddpm/ -run '^$' -bench W3 -benchtime 3x
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
			tr, err := NewTrainer(be, cfg, TrainConfig{Steps: 1 << 30, BatchSize: 128, Seed: 1}, randomImages(512))
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Finalize()
			// Two warm-up steps: the first compiles, and in the second ONNX Runtime lays out (and the
			// kernel maps) the memory its later runs reuse, which made it up to 2x slower than the rest.
			for range 2 {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			gemm := gemmGFLOPs(b, be)
			b.ResetTimer()
			var times []float64
			for range b.N {
				start := time.Now()
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start).Seconds())
			}
			b.StopTimer()
			slices.Sort(times)
			median := times[len(times)/2]
			ips := 128 / median
			b.ReportMetric(ips, "images/s")
			b.ReportMetric(128/times[0], "best-images/s")
			b.ReportMetric(ips*3*cfg.FLOPsPerImage()/1e9, "train-GFLOP/s")
			b.ReportMetric(gemm, "gemm1024-GFLOP/s")
		})
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
