//go:build solutions

package lesson01

import (
	"math"

	"github.com/slowai-go/course/slowai/rng"
	"github.com/slowai-go/course/slowai/tensor"
)

func Transpose(m *tensor.Matrix) *tensor.Matrix {
	t := tensor.New(m.Cols, m.Rows)
	for i := 0; i < m.Rows; i++ {
		for j := 0; j < m.Cols; j++ {
			t.Set(j, i, m.At(i, j))
		}
	}
	return t
}

func MatMulBT(a, bT *tensor.Matrix) *tensor.Matrix {
	c := tensor.New(a.Rows, bT.Rows)
	for i := 0; i < a.Rows; i++ {
		ai := a.Row(i)
		for j := 0; j < bT.Rows; j++ {
			var s float32
			for k, v := range bT.Row(j) {
				s += ai[k] * v
			}
			c.Set(i, j, s)
		}
	}
	return c
}

func Normal(g *rng.WichmannHill) (float64, float64) {
	u1 := 1 - g.Float64() // in (0, 1], so the log is finite
	u2 := g.Float64()
	r, th := math.Sqrt(-2*math.Log(u1)), 2*math.Pi*u2
	return r * math.Cos(th), r * math.Sin(th)
}
