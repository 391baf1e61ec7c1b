//go:build solutions

package lesson06

func BottleneckSize(h, w int, chans []int) int {
	for range len(chans) - 1 {
		h, w = (h+2-3)/2+1, (w+2-3)/2+1
	}
	return chans[len(chans)-1] * h * w
}

func UpsampleNearest(img []float32, h, w, f int) []float32 {
	out := make([]float32, h*f*w*f)
	for r := range h * f {
		for c := range w * f {
			out[r*w*f+c] = img[(r/f)*w+c/f]
		}
	}
	return out
}

func MeanImageMSE(train, test [][]float32) float64 {
	mean := make([]float64, len(train[0]))
	for _, img := range train {
		for i, v := range img {
			mean[i] += float64(v)
		}
	}
	for i := range mean {
		mean[i] /= float64(len(train))
	}
	s := 0.0
	for _, img := range test {
		for i, v := range img {
			d := float64(v) - mean[i]
			s += d * d
		}
	}
	return s / float64(len(test)*len(mean))
}
