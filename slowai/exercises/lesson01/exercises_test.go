package lesson01

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/rng"
	"github.com/slowai-go/course/slowai/tensor"
)

func TestTranspose(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson01/exercises.go: Transpose", func(t *testing.T) {
		m, _ := tensor.FromSlice(2, 3, []float32{1, 2, 3, 4, 5, 6})
		got := Transpose(m)
		if got.Rows != 3 || got.Cols != 2 {
			t.Fatalf("transpose of 2×3 is %d×%d", got.Rows, got.Cols)
		}
		for i, want := range []float32{1, 4, 2, 5, 3, 6} {
			if got.Data[i] != want {
				t.Fatalf("Transpose = %v, want [1 4 2 5 3 6]", got.Data)
			}
		}
	})
}

func TestMatMulBT(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson01/exercises.go: MatMulBT", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 1))
		a, b := tensor.Randn(r, 7, 13), tensor.Randn(r, 13, 5)
		bT := tensor.New(5, 13)
		for i := 0; i < 13; i++ {
			for j := 0; j < 5; j++ {
				bT.Set(j, i, b.At(i, j))
			}
		}
		got, want := MatMulBT(a, bT), tensor.MatMulNaive(a, b)
		if got.Rows != 7 || got.Cols != 5 {
			t.Fatalf("result is %d×%d, want 7×5", got.Rows, got.Cols)
		}
		for i := range want.Data {
			if math.Abs(float64(got.Data[i]-want.Data[i])) > 1e-4 {
				t.Fatalf("value %d = %v, want %v", i, got.Data[i], want.Data[i])
			}
		}
	})
}

func TestNormal(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson01/exercises.go: Normal", func(t *testing.T) {
		g := rng.New(7)
		const n = 50000
		var s, ss, prod, tail float64
		for range n {
			x, y := Normal(g)
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
				t.Fatalf("Normal gave %v, %v", x, y)
			}
			s += x + y
			ss += x*x + y*y
			prod += x * y
			if math.Abs(x) > 1.96 {
				tail++
			}
		}
		// For 2n standard normals the mean has standard error 1/√(2n) ≈ 0.003; allow 5 of them.
		if m := s / (2 * n); math.Abs(m) > 0.016 {
			t.Errorf("mean %.4f, want 0", m)
		}
		if v := ss / (2 * n); math.Abs(v-1) > 0.03 {
			t.Errorf("variance %.4f, want 1", v)
		}
		if c := prod / n; math.Abs(c) > 0.025 {
			t.Errorf("the pair's correlation is %.4f, want 0 (independent)", c)
		}
		if p := tail / n; math.Abs(p-0.05) > 0.006 {
			t.Errorf("P(|x| > 1.96) = %.4f, want 0.05", p)
		}
	})
}
