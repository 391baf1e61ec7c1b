//go:build solutions

package lesson03

import "math"

func SigmoidBackward(x, gradY []float32) []float32 {
	g := make([]float32, len(x))
	for i, v := range x {
		s := float32(1 / (1 + math.Exp(-float64(v))))
		g[i] = gradY[i] * s * (1 - s)
	}
	return g
}

func LeakyReLUBackward(x, gradY []float32, slope float32) []float32 {
	g := make([]float32, len(x))
	for i, v := range x {
		if v > 0 {
			g[i] = gradY[i]
		} else {
			g[i] = slope * gradY[i]
		}
	}
	return g
}

func MAEBackward(pred, target []float32) []float32 {
	g := make([]float32, len(pred))
	n := float32(len(pred))
	for i, p := range pred {
		switch {
		case p > target[i]:
			g[i] = 1 / n
		case p < target[i]:
			g[i] = -1 / n
		}
	}
	return g
}
