package lesson10

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/optim"
)

func TestEMA(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson10/exercises.go: EMA", func(t *testing.T) {
		// A constant series is its own debiased average from the first step on.
		for _, v := range EMA([]float64{3, 3, 3, 3}, 0.9) {
			if math.Abs(v-3) > 1e-12 {
				t.Fatalf("EMA of a constant 3 gave %v, want 3 everywhere", v)
			}
		}
		// 1, 0 with β = 0.5: avg 0.5 then 0.25, debiased by 0.5 and 0.75.
		got := EMA([]float64{1, 0}, 0.5)
		if len(got) != 2 || math.Abs(got[0]-1) > 1e-12 || math.Abs(got[1]-1.0/3) > 1e-12 {
			t.Errorf("EMA([1 0], 0.5) = %v, want [1 0.3333]", got)
		}
	})
}

func TestAdamStep(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson10/exercises.go: AdamStep", func(t *testing.T) {
		// First step: the debiased m and v are g and g², so p moves by lr·g/(|g|+eps).
		p, m, v := AdamStep(1, -4, 0, 0, 1, 0.01, 0.9, 0.999, 1e-8)
		if math.Abs(p-(1+0.01*4/(4+1e-8))) > 1e-12 || math.Abs(m+0.4) > 1e-12 || math.Abs(v-0.016) > 1e-12 {
			t.Errorf("AdamStep first step = %v, %v, %v, want ≈1.01, -0.4, 0.016", p, m, v)
		}
		// Second step with the same gradient: still lr·g/(|g|+eps) (the averages stay g, g²).
		p2, _, _ := AdamStep(p, -4, m, v, 2, 0.01, 0.9, 0.999, 1e-8)
		if math.Abs(p2-p-0.01*4/(4+1e-8)) > 1e-9 {
			t.Errorf("second step moved %v, want 0.01", p2-p)
		}
	})
}

func TestOneCycleLR(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson10/exercises.go: OneCycleLR", func(t *testing.T) {
		const total = 101
		lr, _ := optim.OneCycle(0.1, total, optim.OneCycleOpts{})
		for step := 1; step <= total; step += 5 {
			pos := float64(step-1) / (total - 1)
			if got, want := OneCycleLR(0.1, pos), lr(step); math.Abs(got-want) > 1e-12 {
				t.Fatalf("OneCycleLR(0.1, %v) = %v, want %v (optim.OneCycle)", pos, got, want)
			}
		}
	})
}
