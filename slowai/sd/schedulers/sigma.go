package schedulers

import (
	"fmt"
	"math"

	"github.com/slowai-go/course/slowai/diffusion"
)

// sigmaBase is shared by the k-diffusion style schedulers (LMS, Euler, Euler ancestral). They
// work in the "variance exploding" form x = x_0 + σ·ε with σ = sqrt((1-ᾱ)/ᾱ): the latents are
// x_t/sqrt(ᾱ_t), which is why the first sample is scaled by σ_max and the UNet input by
// 1/sqrt(σ²+1) to bring it back to unit variance.
type sigmaBase struct {
	base
	table  []float32 // σ for every training timestep, computed in float32 like diffusers
	sigmas []float32 // σ for each inference step, plus a final 0
}

// Sigmas returns σ for each step and a final 0 (len(Timesteps())+1 values).
func (s *sigmaBase) Sigmas() []float64 {
	out := make([]float64, len(s.sigmas))
	for i, v := range s.sigmas {
		out[i] = float64(v)
	}
	return out
}

// SetTimesteps spaces n steps over the training range and interpolates σ at each timestep.
func (s *sigmaBase) SetTimesteps(n int) error {
	if err := s.checkN(n); err != nil {
		return err
	}
	s.ensureTable()
	s.n = n
	s.ts = floatTimesteps(s.p, n)
	s.sigmas = make([]float32, n+1)
	for i, t := range s.ts {
		s.sigmas[i] = float32(s.sigmaAt(t))
	}
	return nil
}

// ensureTable computes σ = sqrt((1-ᾱ)/ᾱ) for every training step, in float32 like diffusers.
func (s *sigmaBase) ensureTable() {
	if s.table != nil {
		return
	}
	s.table = make([]float32, len(s.abar))
	for i, a := range s.abar {
		a32 := float32(a)
		s.table[i] = float32(math.Sqrt(float64((1 - a32) / a32)))
	}
}

// sigmaAt interpolates the σ table linearly at a (possibly fractional) timestep, as numpy.interp
// does: clamped at the ends, exact at integers.
func (s *sigmaBase) sigmaAt(t float64) float64 {
	last := len(s.table) - 1
	switch {
	case t <= 0:
		return float64(s.table[0])
	case t >= float64(last):
		return float64(s.table[last])
	}
	j := int(math.Floor(t))
	y0 := float64(s.table[j])
	if float64(j) == t {
		return y0
	}
	slope := float64(s.table[j+1]) - y0
	return slope*(t-float64(j)) + y0
}

// InitNoiseSigma is σ_max for "linspace"/"trailing" spacing and sqrt(σ_max²+1) for "leading"
// (diffusers' rule; SD's LMS uses σ_max ≈ 14.6).
func (s *sigmaBase) InitNoiseSigma() float64 {
	if len(s.sigmas) == 0 {
		return math.NaN()
	}
	m := s.sigmas[0]
	for _, v := range s.sigmas {
		m = max(m, v)
	}
	if s.p.spacing == "leading" {
		return float64(float32(math.Sqrt(float64(m*m + 1))))
	}
	return float64(m)
}

// inputScale is sqrt(σ_i²+1) in float32, as diffusers computes it.
func (s *sigmaBase) inputScale(i int) float32 {
	sg := s.sigmas[i]
	return float32(math.Sqrt(float64(float32(sg*sg) + 1)))
}

// ScaleModelInput divides x by sqrt(σ²+1), giving the UNet a unit-variance input.
func (s *sigmaBase) ScaleModelInput(x []float32, i int) []float32 {
	s.index(i)
	c := s.inputScale(i)
	out := make([]float32, len(x))
	for k, v := range x {
		out[k] = v / c
	}
	return out
}

// AddNoise returns x0 + σ(t)·noise, with σ interpolated at timestep t.
func (s *sigmaBase) AddNoise(x0, noise []float32, t float64) []float32 {
	sameLen(s.name, x0, noise)
	s.ensureTable()
	sg := s.sigmaAt(t)
	out := make([]float32, len(x0))
	for k := range out {
		out[k] = float32(float64(x0[k]) + sg*float64(noise[k]))
	}
	return out
}

// denoised converts the model output at noise level σ into the predicted clean latents.
func (s *sigmaBase) denoised(out, x []float32, sigma float64) []float32 {
	x0 := make([]float32, len(x))
	for k := range x {
		xv, ov := float64(x[k]), float64(out[k])
		switch s.p.prediction {
		case diffusion.Epsilon:
			x0[k] = float32(xv - sigma*ov)
		case diffusion.VPrediction:
			x0[k] = float32(ov*(-sigma/math.Sqrt(sigma*sigma+1)) + xv/(sigma*sigma+1))
		case diffusion.PredictX0:
			x0[k] = out[k]
		}
	}
	return x0
}

// derivative is the probability-flow ODE slope dx/dσ = (x - x0)/σ.
func derivative(x, x0 []float32, sigma float64) []float64 {
	d := make([]float64, len(x))
	for k := range x {
		d[k] = (float64(x[k]) - float64(x0[k])) / sigma
	}
	return d
}

// Euler is diffusers' EulerDiscreteScheduler with s_churn = 0: one explicit Euler step of the
// probability-flow ODE from σ_i to σ_{i+1}. (diffusers draws and discards noise here; we don't.)
type Euler struct {
	sigmaBase
}

// Step takes the Euler step x + (x - x0)/σ_i · (σ_{i+1} - σ_i).
func (e *Euler) Step(out []float32, i int, x []float32) (prev, predX0 []float32, err error) {
	if err := e.checkStep(out, i, x); err != nil {
		return nil, nil, err
	}
	sigma := float64(e.sigmas[i])
	x0 := e.denoised(out, x, sigma)
	d := derivative(x, x0, sigma)
	dt := float64(e.sigmas[i+1]) - sigma
	prev = make([]float32, len(x))
	for k := range x {
		prev[k] = float32(float64(x[k]) + d[k]*dt)
	}
	return prev, x0, nil
}

// EulerAncestral is diffusers' EulerAncestralDiscreteScheduler: an Euler step down to σ_down
// followed by fresh noise of size σ_up, where σ_down² + σ_up² = σ_{i+1}². It draws noise at every
// step (multiplied by 0 at the last).
type EulerAncestral struct {
	sigmaBase
}

// Step takes one ancestral step.
func (e *EulerAncestral) Step(out []float32, i int, x []float32) (prev, predX0 []float32, err error) {
	if err := e.checkStep(out, i, x); err != nil {
		return nil, nil, err
	}
	from, to := float64(e.sigmas[i]), float64(e.sigmas[i+1])
	x0 := e.denoised(out, x, from)
	up := math.Sqrt(to * to * (from*from - to*to) / (from * from))
	down := math.Sqrt(to*to - up*up)
	d := derivative(x, x0, from)
	z := make([]float32, len(x))
	if e.noise == nil {
		return nil, nil, fmt.Errorf("schedulers: euler_ancestral: no noise source")
	}
	if err := e.noise.Normal(z); err != nil {
		return nil, nil, fmt.Errorf("schedulers: euler_ancestral step %d: %w", i, err)
	}
	prev = make([]float32, len(x))
	for k := range x {
		prev[k] = float32(float64(x[k]) + d[k]*(down-from) + float64(z[k])*up)
	}
	return prev, x0, nil
}

// LMS is diffusers' LMSDiscreteScheduler: a linear multistep (Adams–Bashforth style) integrator
// of the probability-flow ODE in σ, using up to the last four derivatives. Each coefficient is
// the integral over [σ_i, σ_{i+1}] of a Lagrange basis polynomial through the σ's where those
// derivatives were taken; the polynomials have degree ≤ 3, so we integrate them exactly.
type LMS struct {
	sigmaBase
	// Order is the maximum number of past derivatives used (diffusers' default 4).
	Order       int
	derivatives [][]float64 // most recent last
	next        int         // step index expected next; -1 before the first step
	// Coeffs holds the coefficients used by the latest step; Coeffs[j] multiplies the j-th most
	// recent derivative.
	Coeffs []float64
}

// SetTimesteps also clears the derivative history.
func (l *LMS) SetTimesteps(n int) error {
	if err := l.sigmaBase.SetTimesteps(n); err != nil {
		return err
	}
	l.derivatives, l.next, l.Coeffs = nil, -1, nil
	return nil
}

// Coefficient returns ∫_{σ_i}^{σ_{i+1}} ℓ_j(σ) dσ, where ℓ_j is the Lagrange basis polynomial
// that is 1 at σ_{i-j} and 0 at the other σ_{i-m}, m < order.
func (l *LMS) Coefficient(order, i, j int) float64 {
	// Work in u = σ - σ_i so the numbers stay small; build ℓ_j as a polynomial in u.
	s0 := float64(l.sigmas[i])
	poly := []float64{1} // coefficients of u^0, u^1, ...
	for m := 0; m < order; m++ {
		if m == j {
			continue
		}
		root := float64(l.sigmas[i-m]) - s0
		den := float64(l.sigmas[i-j]) - float64(l.sigmas[i-m])
		next := make([]float64, len(poly)+1)
		for k, c := range poly {
			next[k+1] += c / den
			next[k] -= c * root / den
		}
		poly = next
	}
	h := float64(l.sigmas[i+1]) - s0
	// ∫_0^h Σ c_k u^k du = Σ c_k h^{k+1}/(k+1), evaluated by Horner's rule.
	sum := 0.0
	for k := len(poly) - 1; k >= 0; k-- {
		sum = sum*h + poly[k]/float64(k+1)
	}
	return sum * h
}

// Step records the derivative at σ_i and moves to σ_{i+1} with the multistep formula.
func (l *LMS) Step(out []float32, i int, x []float32) (prev, predX0 []float32, err error) {
	if err := l.checkStep(out, i, x); err != nil {
		return nil, nil, err
	}
	if l.next >= 0 && i != l.next {
		return nil, nil, fmt.Errorf("schedulers: lms: step %d called after step %d; LMS steps must run in order (SetTimesteps restarts)", i, l.next-1)
	}
	order := l.Order
	if order <= 0 {
		order = 4
	}
	sigma := float64(l.sigmas[i])
	x0 := l.denoised(out, x, sigma)
	l.derivatives = append(l.derivatives, derivative(x, x0, sigma))
	if len(l.derivatives) > order {
		l.derivatives = l.derivatives[1:]
	}
	// Like diffusers the order follows the step index, and a history shorter than that (img2img
	// starting mid-schedule) simply uses the derivatives it has.
	cur := min(i+1, order)
	l.Coeffs = make([]float64, cur)
	for j := range l.Coeffs {
		l.Coeffs[j] = l.Coefficient(cur, i, j)
	}
	prev = make([]float32, len(x))
	for k := range x {
		v := float64(x[k])
		for j := 0; j < cur && j < len(l.derivatives); j++ {
			v += l.Coeffs[j] * l.derivatives[len(l.derivatives)-1-j][k]
		}
		prev[k] = float32(v)
	}
	l.next = i + 1
	return prev, x0, nil
}
