package lesson00

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
)

const file = "slowai/exercises/lesson00/exercises.go: "

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

func TestAddNoise(t *testing.T) {
	exercises.Check(t, file+"AddNoise", func(t *testing.T) {
		x := []float32{0, 0.5, 1}
		got := AddNoise(x, []float32{1, -2, 0.5}, 0.2)
		want := []float32{0.2, 0.1, 1.1}
		for i := range want {
			if !near(float64(got[i]), float64(want[i]), 1e-6) {
				t.Fatalf("AddNoise = %v, want %v", got, want)
			}
		}
		if x[0] != 0 || x[1] != 0.5 {
			t.Fatalf("AddNoise changed its input: %v", x)
		}
	})
}

func TestAscentStep(t *testing.T) {
	exercises.Check(t, file+"AscentStep", func(t *testing.T) {
		x := []float32{0.5, 0.5, 0.9, 0.1}
		grad := []float32{0.1, -0.1, 1, -1}
		got := AscentStep(x, grad, 1, 0)
		want := []float32{0.6, 0.4, 1, 0} // the last two are clamped
		for i := range want {
			if !near(float64(got[i]), float64(want[i]), 1e-6) {
				t.Fatalf("AscentStep(c=1, λ=0) = %v, want %v", got, want)
			}
		}
		// With the prior, 5·(0 − 0.04·0.5) = −0.1: a zero gradient darkens the pixel.
		if got := AscentStep([]float32{0.5}, []float32{0}, 5, 0.04); !near(float64(got[0]), 0.4, 1e-6) {
			t.Fatalf("AscentStep(c=5, λ=0.04) on 0.5 with zero gradient = %v, want 0.4", got)
		}
	})
}

func TestCentralDifference(t *testing.T) {
	exercises.Check(t, file+"CentralDifference", func(t *testing.T) {
		// f(x) = x0³ + 2·x0·x1, so ∂f/∂x0 = 3x0² + 2x1 and ∂f/∂x1 = 2x0.
		f := func(x []float32) float64 {
			a, b := float64(x[0]), float64(x[1])
			return a*a*a + 2*a*b
		}
		x := []float32{1.5, -0.5}
		if g := CentralDifference(f, x, 0, 1e-2); !near(g, 3*1.5*1.5-1, 1e-3) {
			t.Errorf("∂f/∂x0 = %v, want %v", g, 3*1.5*1.5-1)
		}
		if g := CentralDifference(f, x, 1, 1e-2); !near(g, 3, 1e-3) {
			t.Errorf("∂f/∂x1 = %v, want 3", g)
		}
		if x[0] != 1.5 || x[1] != -0.5 {
			t.Errorf("x changed: %v", x)
		}
	})
}

func TestSimilarity(t *testing.T) {
	exercises.Check(t, file+"Similarity", func(t *testing.T) {
		s := Similarity([][]float64{{3, 4}, {1, 0}}, [][]float64{{6, 8}, {0, 2}, {-1, 0}})
		want := [][]float64{{1, 0.8, -0.6}, {0.6, 0, -1}}
		for i := range want {
			for j := range want[i] {
				if !near(s[i][j], want[i][j], 1e-9) {
					t.Fatalf("Similarity = %v, want %v", s, want)
				}
			}
		}
	})
}

func TestContrastiveLoss(t *testing.T) {
	exercises.Check(t, file+"ContrastiveLoss", func(t *testing.T) {
		// Two orthogonal pairs, perfectly matched: each row and column is a softmax of (1, 0)/τ.
		img := [][]float64{{1, 0}, {0, 1}}
		tau := 0.5
		want := math.Log(1 + math.Exp(-1/tau))
		if got := ContrastiveLoss(img, img, tau); !near(got, want, 1e-9) {
			t.Errorf("matched batch: loss %v, want %v", got, want)
		}
		// Swapping the captions makes every diagonal entry the worst one.
		swapped := [][]float64{{0, 1}, {1, 0}}
		if got := ContrastiveLoss(img, swapped, tau); !near(got, math.Log(1+math.Exp(1/tau)), 1e-9) {
			t.Errorf("mismatched batch: loss %v, want %v", got, math.Log(1+math.Exp(1/tau)))
		}
		// Rows and columns both count: an image matching two captions is penalised through the columns.
		a := ContrastiveLoss([][]float64{{1, 0}, {1, 0.1}}, img, 0.1)
		b := ContrastiveLoss(img, img, 0.1)
		if a <= b {
			t.Errorf("a batch whose images look alike should cost more: %v <= %v", a, b)
		}
	})
}
