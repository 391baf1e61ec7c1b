package module

import (
	"math"
	"math/rand/v2"
)

// Fans returns PyTorch's fan_in and fan_out of a weight shaped [out, in, k...]: in·∏k and out·∏k.
// A vector (bias, norm scale) has fan_in = fan_out = its length.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		n := size(shape)
		return n, n
	}
	field := size(shape[2:])
	return shape[1] * field, shape[0] * field
}

// XavierStd is the standard deviation Glorot and Bengio derive for a linear layer: variance
// 2/(fan_in+fan_out), the compromise between keeping activations (fan_in) and gradients (fan_out)
// at unit scale.
func XavierStd(fanIn, fanOut int) float64 { return math.Sqrt(2 / float64(fanIn+fanOut)) }

// KaimingStd is He et al.'s standard deviation for a layer followed by a leaky ReLU of slope
// leak (0 for ReLU): variance 2/((1+leak²)·fan_in), because the activation keeps only a
// (1+leak²)/2 share of its input's second moment.
func KaimingStd(fanIn int, leak float64) float64 {
	return math.Sqrt(2 / ((1 + leak*leak) * float64(fanIn)))
}

// fillRandom writes sp's initial values into data (len = size(sp.Shape)) from rng.
func fillRandom(sp Spec, data []float32, rng *rand.Rand) {
	uniform := func(bound float64) {
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	normal := func(std float64) {
		for i := range data {
			data[i] = float32(std * rng.NormFloat64())
		}
	}
	fanIn, fanOut := Fans(sp.Shape)
	switch sp.Init {
	case InitFanIn:
		uniform(1 / math.Sqrt(float64(max(fanIn, 1))))
	case InitBias:
		uniform(1 / math.Sqrt(float64(max(sp.FanIn, 1))))
	case InitOnes:
		for i := range data {
			data[i] = 1
		}
	case InitZeros:
		clear(data)
	case InitEmbedding:
		normal(0.02)
	case InitXavierUniform:
		uniform(math.Sqrt(3) * XavierStd(fanIn, fanOut)) // U(±a) has variance a²/3
	case InitXavierNormal:
		normal(XavierStd(fanIn, fanOut))
	case InitKaiming:
		normal(KaimingStd(fanIn, sp.Leak))
	case InitOrthogonal:
		rows := 1
		if len(sp.Shape) > 0 {
			rows = sp.Shape[0]
		}
		orthogonal(data, rows, len(data)/max(rows, 1), rng)
	}
}

// orthogonal fills the row-major rows×cols matrix m with orthonormal rows (rows <= cols) or
// orthonormal columns (rows > cols): Gram–Schmidt, in float64, on Gaussian vectors, which gives
// the same distribution as the QR recipe PyTorch uses.
func orthogonal(m []float32, rows, cols int, rng *rand.Rand) {
	n, d := rows, cols // n vectors of length d, orthonormalised
	if rows > cols {
		n, d = cols, rows
	}
	vecs := make([][]float64, n)
	for i := range vecs {
		for {
			v := make([]float64, d)
			for j := range v {
				v[j] = rng.NormFloat64()
			}
			for _, u := range vecs[:i] { // twice, for float64 round-off
				for range 2 {
					dot := 0.0
					for j := range v {
						dot += v[j] * u[j]
					}
					for j := range v {
						v[j] -= dot * u[j]
					}
				}
			}
			norm := 0.0
			for _, x := range v {
				norm += x * x
			}
			if norm = math.Sqrt(norm); norm > 1e-6 {
				for j := range v {
					v[j] /= norm
				}
				vecs[i] = v
				break
			}
		}
	}
	for i := range n {
		for j := range d {
			if rows <= cols {
				m[i*cols+j] = float32(vecs[i][j])
			} else {
				m[j*cols+i] = float32(vecs[i][j])
			}
		}
	}
}
