//go:build solutions

package lesson11

// BlockParams: two 3x3 convolutions, two BatchNorms and, when the channels change, a 1x1
// convolution.
func BlockParams(in, out int) int {
	n := 9*in*out + 9*out*out + 2*2*out
	if in != out {
		n += in * out
	}
	return n
}

// CeilHalf is ceil(n/2).
func CeilHalf(n int) int { return (n + 1) / 2 }

// Residual is ReLU(main + identity).
func Residual(main, identity []float32) []float32 {
	out := make([]float32, len(main))
	for i := range main {
		out[i] = max(0, main[i]+identity[i])
	}
	return out
}
