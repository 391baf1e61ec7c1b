package resnet

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/optim"
)

// BenchmarkW7ResNetStep is W7 of WORKLOADS.md: one Learner training step (forward with train-mode
// BatchNorm, cross-entropy, gradients, AdamW update) of the residual network on a batch of 256
// 1x28x28 images. Each iteration is a Fit over a one-batch loader; two warm-up steps are not
// timed. Reports images/s at the median and at the fastest step.
func BenchmarkW7ResNetStep(b *testing.B) {
	const batch = 256
	images := make([]float32, batch*28*28)
	labels := make([]int, batch)
	for i := range images {
		images[i] = float32(0.5 + 0.5*math.Sin(float64(i)*0.013))
	}
	for i := range labels {
		labels[i] = i % 10
	}
	classes := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	ds, err := data.NewDataset("w7/synthetic", 1, 28, 28, images, labels, classes)
	if err != nil {
		b.Fatal(err)
	}
	dl, err := data.NewLoader(ds, batch, data.LoaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := learn.New(Model(false), data.Loaders{Train: dl}, learn.CrossEntropy, optim.AdamW(1e-3, 1e-5),
		learn.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Two untimed steps: the first compiles, and in the second ONNX Runtime lays out the memory its
	// later runs reuse (up to 2x slower than the rest), as in ddpm's BenchmarkW3.
	for range 2 {
		if err := l.Fit(1); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var times []float64
	for range b.N {
		start := time.Now()
		if err := l.Fit(1); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start).Seconds())
	}
	b.StopTimer()
	if l.Step != b.N+2 {
		b.Fatalf("took %d steps, want %d (one per Fit)", l.Step, b.N+2)
	}
	slices.Sort(times)
	b.ReportMetric(batch/times[len(times)/2], "images/s")
	b.ReportMetric(batch/times[0], "best-images/s")
}
