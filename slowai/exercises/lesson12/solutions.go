//go:build solutions

package lesson12

func ShiftImage(img []float32, h, w, dy, dx int) []float32 {
	out := make([]float32, h*w)
	for r := range h {
		for c := range w {
			if sr, sc := r+dy, c+dx; sr >= 0 && sr < h && sc >= 0 && sc < w {
				out[r*w+c] = img[sr*w+sc]
			}
		}
	}
	return out
}

func Dropout(x, u []float32, p float64) []float32 {
	out := make([]float32, len(x))
	for i := range x {
		if float64(u[i]) >= p {
			out[i] = x[i] * float32(1/(1-p))
		}
	}
	return out
}

func FlipTTA(probs func(img []float32) []float64, img []float32, h, w int) int {
	mirror := make([]float32, len(img))
	for r := range h {
		for c := range w {
			mirror[r*w+c] = img[r*w+w-1-c]
		}
	}
	p, q := probs(img), probs(mirror)
	best := 0
	for k := range p {
		if p[k]+q[k] > p[best]+q[best] {
			best = k
		}
	}
	return best
}
