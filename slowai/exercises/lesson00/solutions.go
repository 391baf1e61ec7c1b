//go:build solutions

package lesson00

import "math"

func AddNoise(x, eps []float32, sigma float64) []float32 {
	out := make([]float32, len(x))
	for i := range x {
		out[i] = float32(float64(x[i]) + sigma*float64(eps[i]))
	}
	return out
}

func AscentStep(x, grad []float32, c, lambda float64) []float32 {
	out := make([]float32, len(x))
	for i := range x {
		v := float64(x[i]) + c*(float64(grad[i])-lambda*float64(x[i]))
		out[i] = float32(min(max(v, 0), 1))
	}
	return out
}

func CentralDifference(f func([]float32) float64, x []float32, i int, h float64) float64 {
	old := x[i]
	x[i] = old + float32(h)
	up := f(x)
	x[i] = old - float32(h)
	down := f(x)
	x[i] = old
	return (up - down) / (2 * h)
}

func Similarity(img, txt [][]float64) [][]float64 {
	unit := func(v []float64) []float64 {
		n := 0.0
		for _, x := range v {
			n += x * x
		}
		n = math.Sqrt(n)
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = x / n
		}
		return out
	}
	s := make([][]float64, len(img))
	for i := range img {
		a := unit(img[i])
		s[i] = make([]float64, len(txt))
		for j := range txt {
			b := unit(txt[j])
			for k := range a {
				s[i][j] += a[k] * b[k]
			}
		}
	}
	return s
}

func ContrastiveLoss(img, txt [][]float64, temperature float64) float64 {
	s := Similarity(img, txt)
	n := len(s)
	// crossEntropy of row i of a matrix given by at(i, j), with j = i the right answer.
	crossEntropy := func(at func(i, j int) float64, i int) float64 {
		m := math.Inf(-1)
		for j := range n {
			m = max(m, at(i, j))
		}
		sum := 0.0
		for j := range n {
			sum += math.Exp(at(i, j) - m)
		}
		return m + math.Log(sum) - at(i, i)
	}
	rows := func(i, j int) float64 { return s[i][j] / temperature }
	cols := func(i, j int) float64 { return s[j][i] / temperature }
	loss := 0.0
	for i := range n {
		loss += crossEntropy(rows, i) + crossEntropy(cols, i)
	}
	return loss / float64(2*n)
}
