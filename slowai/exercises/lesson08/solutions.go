//go:build solutions

package lesson08

import "math"

func AbsHistogram(xs []float32, bins int, max float64) []float64 {
	h := make([]float64, bins)
	w := max / float64(bins)
	for _, x := range xs {
		k := int(math.Abs(float64(x)) / w)
		h[min(k, bins-1)]++
	}
	return h
}

func NearZeroFraction(hist []float64, binWidth, threshold float64) float64 {
	near, total := 0.0, 0.0
	for k, c := range hist {
		total += c
		if float64(k+1)*binWidth <= threshold {
			near += c
		}
	}
	if total == 0 {
		return 0
	}
	return near / total
}

func Dead(acts [][]float32) float64 {
	if len(acts) == 0 || len(acts[0]) == 0 {
		return 0
	}
	dead := 0
	for u := range acts[0] {
		alive := false
		for _, row := range acts {
			if row[u] != 0 {
				alive = true
				break
			}
		}
		if !alive {
			dead++
		}
	}
	return float64(dead) / float64(len(acts[0]))
}
