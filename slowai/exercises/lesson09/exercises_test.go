package lesson09

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/nn/module"
)

func TestGeneralReLU(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson09/exercises.go: GeneralReLU", func(t *testing.T) {
		x := []float64{-2, -0.5, 0, 0.3, 1, 5}
		for _, c := range []struct {
			leak, sub, maxv float64
			want            []float64
		}{
			{0, 0, 0, []float64{0, 0, 0, 0.3, 1, 5}},
			{0.1, 0.4, 0, []float64{-0.6, -0.45, -0.4, -0.1, 0.6, 4.6}},
			{0.1, 0.4, 2, []float64{-0.6, -0.45, -0.4, -0.1, 0.6, 2}},
		} {
			got := GeneralReLU(x, c.leak, c.sub, c.maxv)
			if len(got) != len(x) {
				t.Fatalf("GeneralReLU returned %d values for %d", len(got), len(x))
			}
			for i := range x {
				if math.Abs(got[i]-c.want[i]) > 1e-12 {
					t.Fatalf("GeneralReLU(%v, leak %v, sub %v, max %v) = %v, want %v", x, c.leak, c.sub, c.maxv, got, c.want)
				}
			}
		}
	})
}

// TestKaimingStd checks the closed form, then that a simulated deep stack of leaky-ReLU layers
// drawn with it keeps the activations' second moment near 1 (the property it was derived for).
func TestKaimingStd(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson09/exercises.go: KaimingStd", func(t *testing.T) {
		for _, leak := range []float64{0, 0.1, 0.5} {
			if got, want := KaimingStd(300, leak), module.KaimingStd(300, leak); math.Abs(got-want) > 1e-12 {
				t.Errorf("KaimingStd(300, %v) = %v, want %v", leak, got, want)
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const width, leak, layers, trials = 300, 0.2, 10, 4
		std := KaimingStd(width, leak)
		m2 := 0.0 // E[x²] after the stack, averaged over trials
		for range trials {
			x := make([]float64, width)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			for range layers {
				y := make([]float64, width)
				for o := range y {
					for i := range x {
						y[o] += std * rng.NormFloat64() * x[i]
					}
					if y[o] < 0 {
						y[o] *= leak
					}
				}
				x = y
			}
			for _, v := range x {
				m2 += v * v / (width * trials)
			}
		}
		if m2 < 0.5 || m2 > 2 {
			t.Errorf("after %d leaky-ReLU layers drawn with KaimingStd, E[x²] = %.3g, want near 1", layers, m2)
		}
	})
}

func TestBatchNormColumns(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson09/exercises.go: BatchNormColumns", func(t *testing.T) {
		x := []float64{1, 10, 2, 20, 3, 60} // columns {1, 2, 3} and {10, 20, 60}
		y, mean, uv := BatchNormColumns(x, 3, 2, 0)
		if len(y) != 6 || len(mean) != 2 || len(uv) != 2 {
			t.Fatalf("BatchNormColumns returned %d, %d, %d values, want 6, 2, 2", len(y), len(mean), len(uv))
		}
		s1 := math.Sqrt(2.0 / 3)
		s2 := math.Sqrt((400.0 + 100 + 900) / 3)
		want := []float64{-1 / s1, -20 / s2, 0, -10 / s2, 1 / s1, 30 / s2}
		for i := range want {
			if math.Abs(y[i]-want[i]) > 1e-9 {
				t.Fatalf("normalised %v, want %v", y, want)
			}
		}
		if math.Abs(mean[0]-2) > 1e-12 || math.Abs(mean[1]-30) > 1e-12 || math.Abs(uv[0]-1) > 1e-12 || math.Abs(uv[1]-700) > 1e-9 {
			t.Errorf("mean %v, unbiased variance %v, want [2 30] and [1 700]", mean, uv)
		}
	})
}
