//go:build solutions

package lesson05

func OutSize(n, k, stride, pad int) int {
	return (n+2*pad-k)/stride + 1
}

func ConvStride(img []float32, h, w int, kernel []float32, k, stride int) []float32 {
	oh, ow := OutSize(h, k, stride, 0), OutSize(w, k, stride, 0)
	out := make([]float32, oh*ow)
	for i := range oh {
		for j := range ow {
			var s float32
			for a := range k {
				for b := range k {
					s += img[(i*stride+a)*w+j*stride+b] * kernel[a*k+b]
				}
			}
			out[i*ow+j] = s
		}
	}
	return out
}

func Sobel() (gx, gy []float32) {
	gx = []float32{-1, 0, 1, -2, 0, 2, -1, 0, 1}
	gy = []float32{-1, -2, -1, 0, 0, 0, 1, 2, 1}
	return gx, gy
}

func CNNParams(chans []int, k int) int {
	n := 0
	for i := 0; i+1 < len(chans); i++ {
		n += chans[i]*chans[i+1]*k*k + chans[i+1]
	}
	return n
}
