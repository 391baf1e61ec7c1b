package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/graph"
)

// QSample draws x_t from q(x_t|x_0) in closed form, given the noise: sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·ε.
// No need to walk through the t intermediate steps, which is what makes training cheap.
func (s *Schedule) QSample(x0, eps []float32, t int) ([]float32, error) {
	if len(x0) != len(eps) {
		return nil, fmt.Errorf("diffusion: QSample x0 has %d values but eps has %d", len(x0), len(eps))
	}
	if t < 0 || t >= s.T() {
		return nil, fmt.Errorf("diffusion: QSample t = %d, expected 0 <= t < %d", t, s.T())
	}
	out := make([]float32, len(x0))
	mix(out, x0, eps, math.Sqrt(s.AlphaBars[t]), math.Sqrt(1-s.AlphaBars[t]))
	return out, nil
}

// QSampleBatch noises a batch with one timestep per item: x0 and eps hold len(ts) items of equal
// size, laid out one after another.
func (s *Schedule) QSampleBatch(x0, eps []float32, ts []int) ([]float32, error) {
	if len(x0) != len(eps) {
		return nil, fmt.Errorf("diffusion: QSampleBatch x0 has %d values but eps has %d", len(x0), len(eps))
	}
	if len(ts) == 0 || len(x0)%len(ts) != 0 {
		return nil, fmt.Errorf("diffusion: QSampleBatch %d values do not split into %d items", len(x0), len(ts))
	}
	per := len(x0) / len(ts)
	out := make([]float32, len(x0))
	for b, t := range ts {
		if t < 0 || t >= s.T() {
			return nil, fmt.Errorf("diffusion: QSampleBatch ts[%d] = %d, expected 0 <= t < %d", b, t, s.T())
		}
		lo, hi := b*per, (b+1)*per
		mix(out[lo:hi], x0[lo:hi], eps[lo:hi], math.Sqrt(s.AlphaBars[t]), math.Sqrt(1-s.AlphaBars[t]))
	}
	return out, nil
}

// Noisify prepares one training batch the way lesson 13 does: a random timestep per item and
// fresh Gaussian noise, returning the noised batch, the noise (the regression target) and the
// timesteps (the model's second input).
func (s *Schedule) Noisify(x0 []float32, batch int, r *rand.Rand) (xt, eps []float32, ts []int, err error) {
	ts = make([]int, batch)
	for i := range ts {
		ts[i] = r.IntN(s.T())
	}
	eps = make([]float32, len(x0))
	for i := range eps {
		eps[i] = float32(r.NormFloat64())
	}
	xt, err = s.QSampleBatch(x0, eps, ts)
	return xt, eps, ts, err
}

// EpsLoss is the simplified DDPM objective: the mean squared error between the predicted and the
// true noise. (Ho et al. found this unweighted form trains better than the true ELBO weights.)
func EpsLoss(pred, eps *graph.Node) *graph.Node {
	return graph.ReduceAllMean(graph.Square(graph.Sub(pred, eps)))
}

// Prediction names what a network outputs, using diffusers' config strings.
type Prediction string

const (
	Epsilon     Prediction = "epsilon"      // the noise ε (DDPM, Stable Diffusion v1)
	PredictX0   Prediction = "sample"       // the clean sample x_0
	VPrediction Prediction = "v_prediction" // v = sqrt(ᾱ)·ε - sqrt(1-ᾱ)·x_0 (SD 2.x 768)
)

// Split turns a model output at noise level ᾱ into the predicted clean sample x0 and noise ε that
// together explain x = sqrt(ᾱ)·x0 + sqrt(1-ᾱ)·ε, whatever the network was trained to predict.
func Split(out, x []float32, abar float64, p Prediction) (x0, eps []float32, err error) {
	if len(out) != len(x) {
		return nil, nil, fmt.Errorf("diffusion: model output has %d values but the sample has %d", len(out), len(x))
	}
	a, b := math.Sqrt(abar), math.Sqrt(1-abar)
	x0 = make([]float32, len(x))
	eps = make([]float32, len(x))
	for i := range x {
		xi, oi := float64(x[i]), float64(out[i])
		switch p {
		case Epsilon:
			x0[i], eps[i] = float32((xi-b*oi)/a), out[i]
		case PredictX0:
			x0[i], eps[i] = out[i], float32((xi-a*oi)/b)
		case VPrediction:
			x0[i], eps[i] = float32(a*xi-b*oi), float32(a*oi+b*xi)
		default:
			return nil, nil, fmt.Errorf("diffusion: prediction type %q, expected epsilon, sample or v_prediction", p)
		}
	}
	return x0, eps, nil
}

// mix sets out = a·x + b·y.
func mix(out, x, y []float32, a, b float64) {
	for i := range out {
		out[i] = float32(a*float64(x[i]) + b*float64(y[i]))
	}
}

// clamp limits every value to [-c, c]; c <= 0 means no clamping.
func clamp(x []float32, c float64) {
	if c <= 0 {
		return
	}
	lim := float32(c)
	for i, v := range x {
		x[i] = min(max(v, -lim), lim)
	}
}
