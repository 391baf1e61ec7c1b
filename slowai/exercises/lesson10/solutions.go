//go:build solutions

package lesson10

import "math"

func EMA(xs []float64, beta float64) []float64 {
	out := make([]float64, len(xs))
	avg := 0.0
	for i, x := range xs {
		avg = beta*avg + (1-beta)*x
		out[i] = avg / (1 - math.Pow(beta, float64(i+1)))
	}
	return out
}

func AdamStep(p, g, m, v float64, t int, lr, beta1, beta2, eps float64) (newP, newM, newV float64) {
	m = beta1*m + (1-beta1)*g
	v = beta2*v + (1-beta2)*g*g
	mh := m / (1 - math.Pow(beta1, float64(t)))
	vh := v / (1 - math.Pow(beta2, float64(t)))
	return p - lr*mh/(math.Sqrt(vh)+eps), m, v
}

func OneCycleLR(maxLR, pos float64) float64 {
	cos := func(a, b, x float64) float64 { return b + (a-b)*(1+math.Cos(math.Pi*x))/2 }
	if pos < 0.25 {
		return cos(maxLR/25, maxLR, pos/0.25)
	}
	return cos(maxLR, maxLR/1e5, (pos-0.25)/0.75)
}
