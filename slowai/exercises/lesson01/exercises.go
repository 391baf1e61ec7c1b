//go:build !solutions

// Package lesson01 holds lesson 01's exercises. Replace each exercises.Todo() with your answer,
// then run `go test ./slowai/exercises/lesson01`.
package lesson01

import (
	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/rng"
	"github.com/slowai-go/course/slowai/tensor"
)

// Transpose returns mᵀ: element (i, j) of m is element (j, i) of the result.
func Transpose(m *tensor.Matrix) *tensor.Matrix {
	exercises.Todo()
	return nil
}

// MatMulBT returns a·b given bT = bᵀ. Each output element is then the dot product of two
// rows (row i of a, row j of bT), both read left to right: time it against MatMulNaive.
func MatMulBT(a, bT *tensor.Matrix) *tensor.Matrix {
	exercises.Todo()
	return nil
}

// Normal returns two independent standard normal numbers made from two uniform draws of g
// with the Box–Muller transform: r = √(-2 ln u1), θ = 2π u2, (r cos θ, r sin θ). Mind that
// u1 may be 0.
func Normal(g *rng.WichmannHill) (float64, float64) {
	exercises.Todo()
	return 0, 0
}
