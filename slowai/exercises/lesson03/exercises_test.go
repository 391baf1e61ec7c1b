package lesson03

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/backprop"
	"github.com/slowai-go/course/slowai/exercises"
)

// checkFD compares grad, the answer's dL/dx, with central differences of loss at x.
func checkFD(t *testing.T, name string, grad, x []float32, loss func() float64) {
	t.Helper()
	if len(grad) != len(x) {
		t.Fatalf("%s: %d gradient values for %d inputs", name, len(grad), len(x))
	}
	for i := range x {
		fd, _ := backprop.FiniteDiff(func() (float64, error) { return loss(), nil }, x, i, 1e-4)
		if math.Abs(fd-float64(grad[i])) > 1e-4*math.Max(1, math.Abs(fd)) {
			t.Errorf("%s: dL/dx[%d] = %v, finite differences say %v", name, i, grad[i], fd)
		}
	}
}

// weighted is L = Σ w[i]·f(x[i]), so dL/dy = w: a loss that gives each output a different gradient.
func weighted(x, w []float32, f func(float64) float64) func() float64 {
	return func() float64 {
		s := 0.0
		for i, v := range x {
			s += float64(w[i]) * f(float64(v))
		}
		return s
	}
}

var (
	xs = []float32{-2.5, -0.7, -0.01, 0.3, 1.2, 4}
	ws = []float32{0.5, -1, 2, 1.5, -0.3, 1}
)

func TestSigmoidBackward(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson03/exercises.go: SigmoidBackward", func(t *testing.T) {
		x := append([]float32(nil), xs...)
		sigmoid := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
		checkFD(t, "SigmoidBackward", SigmoidBackward(x, ws), x, weighted(x, ws, sigmoid))
	})
}

func TestLeakyReLUBackward(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson03/exercises.go: LeakyReLUBackward", func(t *testing.T) {
		x := append([]float32(nil), xs...)
		leaky := func(v float64) float64 { return math.Max(v, 0.1*v) }
		checkFD(t, "LeakyReLUBackward", LeakyReLUBackward(x, ws, 0.1), x, weighted(x, ws, leaky))
	})
}

func TestMAEBackward(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson03/exercises.go: MAEBackward", func(t *testing.T) {
		pred := []float32{1, 2, 3, 4}
		target := []float32{0, 2.5, 3, 10}
		got := MAEBackward(pred, target)
		want := []float32{0.25, -0.25, 0, -0.25}
		if backprop.MaxAbsDiff(got, want) > 1e-7 {
			t.Errorf("MAEBackward = %v, want %v", got, want)
		}
		mae := func() float64 {
			s := 0.0
			for i, p := range pred {
				s += math.Abs(float64(p - target[i]))
			}
			return s / 4
		}
		checkFD(t, "MAEBackward (away from pred == target)", got[:2], pred[:2], mae)
	})
}
