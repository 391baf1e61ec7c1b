//go:build solutions

package lesson09

import "math"

func GeneralReLU(x []float64, leak, sub, maxv float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		if v < 0 {
			v *= leak
		}
		v -= sub
		if maxv > 0 {
			v = math.Min(v, maxv)
		}
		out[i] = v
	}
	return out
}

func KaimingStd(fanIn int, leak float64) float64 {
	return math.Sqrt(2 / ((1 + leak*leak) * float64(fanIn)))
}

func BatchNormColumns(x []float64, n, c int, eps float64) (y, mean, unbiasedVar []float64) {
	y, mean, unbiasedVar = make([]float64, n*c), make([]float64, c), make([]float64, c)
	for j := range c {
		for i := range n {
			mean[j] += x[i*c+j]
		}
		mean[j] /= float64(n)
		ss := 0.0
		for i := range n {
			d := x[i*c+j] - mean[j]
			ss += d * d
		}
		for i := range n {
			y[i*c+j] = (x[i*c+j] - mean[j]) / math.Sqrt(ss/float64(n)+eps)
		}
		unbiasedVar[j] = ss / float64(n-1)
	}
	return y, mean, unbiasedVar
}
