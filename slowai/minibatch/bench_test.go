package minibatch

import (
	"math/rand/v2"
	"testing"

	"github.com/slowai-go/course/slowai/backprop"
)

// BenchmarkStep times one training step of lesson 04 (784-50-10 MLP, batch 50: forward, cross-entropy,
// backward, SGD update) on MNIST-like input, 80 % zero pixels. An epoch of MNIST is 1,200 steps.
func BenchmarkStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	model := backprop.NewMLP(rng, 784, 50, 10)
	x, y := make([]float32, 50*784), make([]int, 50)
	for i := range x {
		if rng.Float32() < 0.2 {
			x[i] = rng.Float32()
		}
	}
	for i := range y {
		y[i] = rng.IntN(10)
	}
	ce := CrossEntropy{Classes: 10}
	for b.Loop() {
		ce.Forward(model.Forward(x), y)
		model.Backward(ce.Backward())
		SGDStep(model, 0.01)
	}
}
