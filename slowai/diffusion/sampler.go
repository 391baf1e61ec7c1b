package diffusion

import (
	"fmt"
	"math"
)

// Sampler walks a model from pure noise back to data, one timestep at a time. Step takes the
// model's output at timestep t for sample x and returns the sample at the next (earlier) timestep
// together with the current estimate of the clean image.
type Sampler interface {
	Timesteps() []int
	Step(modelOutput []float32, t int, x []float32) (prev, predX0 []float32, err error)
}

// Variance chooses the DDPM reverse-step variance.
type Variance int

const (
	// FixedSmall is the true posterior variance β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t)·β_t
	// (diffusers' "fixed_small", its default).
	FixedSmall Variance = iota
	// FixedLarge uses β_t itself, as the course's first sampler does.
	FixedLarge
)

// LeadingTimesteps spaces n of T training steps evenly from the start: t = k·(T/n) + offset,
// k = n-1..0 (diffusers' "leading" spacing; Stable Diffusion uses offset 1).
func LeadingTimesteps(T, n, offset int) ([]int, error) {
	if n < 1 || n > T {
		return nil, fmt.Errorf("diffusion: %d inference steps, expected 1..%d", n, T)
	}
	ratio := T / n
	ts := make([]int, n)
	for i := range ts {
		ts[i] = (n-1-i)*ratio + offset
	}
	if ts[0] >= T {
		return nil, fmt.Errorf("diffusion: steps offset %d pushes timestep %d past %d", offset, ts[0], T-1)
	}
	return ts, nil
}

// DDPMUpdate is one ancestral step given the predicted clean sample: the posterior mean
// p.X0·x0 + p.Xt·x plus std·z (z may be nil for the deterministic mean).
func DDPMUpdate(x0, x []float32, p Posterior, std float64, z []float32) []float32 {
	prev := make([]float32, len(x))
	for i := range x {
		v := p.X0*float64(x0[i]) + p.Xt*float64(x[i])
		if z != nil {
			v += std * float64(z[i])
		}
		prev[i] = float32(v)
	}
	return prev
}

// DDIMSigma is DDIM's noise scale: η times the DDPM posterior standard deviation for the jump
// ᾱ_t → ᾱ_prev. η = 0 is the deterministic DDIM sampler, η = 1 recovers DDPM.
func DDIMSigma(abarT, abarPrev, eta float64) float64 {
	return eta * math.Sqrt(PosteriorBetween(abarT, abarPrev).Var)
}

// DDIMUpdate is one DDIM step (Song et al. eq. 12): move the predicted x0 to noise level ᾱ_prev,
// re-using the predicted noise for the part of the variance that is not fresh noise:
// sqrt(ᾱ_prev)·x0 + sqrt(1-ᾱ_prev-σ²)·ε + σ·z (z may be nil when σ = 0).
func DDIMUpdate(x0, eps []float32, abarPrev, sigma float64, z []float32) []float32 {
	a, d := math.Sqrt(abarPrev), math.Sqrt(1-abarPrev-sigma*sigma)
	prev := make([]float32, len(x0))
	for i := range x0 {
		v := a*float64(x0[i]) + d*float64(eps[i])
		if z != nil {
			v += sigma * float64(z[i])
		}
		prev[i] = float32(v)
	}
	return prev
}

// Common holds what DDPM and DDIM share: the schedule, the timesteps and how x0 is predicted.
type Common struct {
	Schedule   *Schedule
	Steps      []int      // timesteps to visit, descending
	Prediction Prediction // what the model outputs; "" means Epsilon
	Clip       float64    // clamp predicted x0 to [-Clip, Clip]; 0 turns clamping off
	Noise      Noise      // source of the fresh noise each stochastic step adds
}

// Timesteps lists the timesteps to visit, noisiest first.
func (s *Common) Timesteps() []int { return s.Steps }

// prevOf returns the timestep after t in Steps (-1 after the last) — for evenly spaced steps
// that is t minus the stride.
func (s *Common) prevOf(t int) (int, error) {
	for i, v := range s.Steps {
		if v == t {
			if i+1 < len(s.Steps) {
				return s.Steps[i+1], nil
			}
			return -1, nil
		}
	}
	return 0, fmt.Errorf("diffusion: timestep %d is not one of the sampler's %d steps", t, len(s.Steps))
}

func (s *Common) split(out, x []float32, t int) (x0, eps []float32, err error) {
	if t < 0 || t >= s.Schedule.T() {
		return nil, nil, fmt.Errorf("diffusion: timestep %d outside 0..%d", t, s.Schedule.T()-1)
	}
	p := s.Prediction
	if p == "" {
		p = Epsilon
	}
	x0, eps, err = Split(out, x, s.Schedule.AlphaBars[t], p)
	if err != nil {
		return nil, nil, err
	}
	clamp(x0, s.Clip)
	return x0, eps, nil
}

// DDPM is the ancestral sampler of Ho et al.: each step samples x_{t'} from the posterior
// q(x_{t'}|x_t, x̂_0) around the model's estimate x̂_0. With fewer steps than training steps the
// jump t → t' is treated as one step with α = ᾱ_t/ᾱ_{t'} (as diffusers does).
type DDPM struct {
	Common
	Variance Variance
}

// NewDDPM samples with n evenly spaced ("leading") steps of s, epsilon prediction, fixed-small
// variance and no clamping; set the fields to change that (the course clamps x0 with Clip = 1).
func NewDDPM(s *Schedule, n int, noise Noise) (*DDPM, error) {
	ts, err := LeadingTimesteps(s.T(), n, 0)
	if err != nil {
		return nil, err
	}
	return &DDPM{Common: Common{Schedule: s, Steps: ts, Noise: noise}}, nil
}

// Step moves x from timestep t to the next timestep; it draws fresh noise whenever t > 0.
func (d *DDPM) Step(out []float32, t int, x []float32) (prev, predX0 []float32, err error) {
	tp, err := d.prevOf(t)
	if err != nil {
		return nil, nil, err
	}
	x0, _, err := d.split(out, x, t)
	if err != nil {
		return nil, nil, err
	}
	post := PosteriorBetween(d.Schedule.AlphaBar(t), d.Schedule.AlphaBar(tp))
	var z []float32
	std := 0.0
	if t > 0 {
		if z, err = draw(d.Noise, len(x)); err != nil {
			return nil, nil, err
		}
		switch d.Variance {
		case FixedSmall:
			// diffusers floors the variance at 1e-20 so its log stays finite.
			std = math.Sqrt(math.Max(post.Var, 1e-20))
		case FixedLarge:
			std = math.Sqrt(1 - d.Schedule.AlphaBar(t)/d.Schedule.AlphaBar(tp))
		default:
			return nil, nil, fmt.Errorf("diffusion: unknown DDPM variance %d", d.Variance)
		}
	}
	return DDPMUpdate(x0, x, post, std, z), x0, nil
}

// DDIM is the sampler of Song et al.: deterministic for Eta = 0, so a few dozen steps suffice and
// the same starting noise always gives the same image.
type DDIM struct {
	Common
	Eta float64
	// FinalAlphaBar is the ᾱ the last step lands on: 1 (a clean image; the course and diffusers'
	// set_alpha_to_one) or ᾱ_0 (Stable Diffusion's set_alpha_to_one = false).
	FinalAlphaBar float64
}

// NewDDIM samples with n evenly spaced ("leading") steps of s, epsilon prediction, FinalAlphaBar 1.
func NewDDIM(s *Schedule, n int, eta float64, noise Noise) (*DDIM, error) {
	ts, err := LeadingTimesteps(s.T(), n, 0)
	if err != nil {
		return nil, err
	}
	return &DDIM{Common: Common{Schedule: s, Steps: ts, Noise: noise}, Eta: eta, FinalAlphaBar: 1}, nil
}

// Step moves x from timestep t to the next timestep, drawing noise only when Eta > 0.
func (d *DDIM) Step(out []float32, t int, x []float32) (prev, predX0 []float32, err error) {
	tp, err := d.prevOf(t)
	if err != nil {
		return nil, nil, err
	}
	x0, eps, err := d.split(out, x, t)
	if err != nil {
		return nil, nil, err
	}
	abarT, abarPrev := d.Schedule.AlphaBar(t), d.FinalAlphaBar
	if tp >= 0 {
		abarPrev = d.Schedule.AlphaBar(tp)
	}
	sigma := DDIMSigma(abarT, abarPrev, d.Eta)
	var z []float32
	if d.Eta > 0 {
		if z, err = draw(d.Noise, len(x)); err != nil {
			return nil, nil, err
		}
	}
	return DDIMUpdate(x0, eps, abarPrev, sigma, z), x0, nil
}

// Model predicts from a batch x (laid out item after item) at one timestep per item.
type Model func(x []float32, t []int) ([]float32, error)

// StepInfo is what Sample reports after each step: the step number, the timestep, the new sample
// and the model's current guess at the clean image (nice for trajectory plots).
type StepInfo struct {
	Index, Total, T int
	X, PredX0       []float32
}

// Sample draws x_T ~ N(0, I) of the given shape ([batch, ...]) from noise and runs the sampler's
// whole loop, calling callback (if not nil) after every step. Pass the sampler the same noise
// source for a run reproducible from one seed.
func Sample(model Model, shape []int, s Sampler, noise Noise, callback func(StepInfo)) ([]float32, error) {
	if len(shape) == 0 || shape[0] < 1 {
		return nil, fmt.Errorf("diffusion: Sample shape %v, expected [batch, ...] with batch >= 1", shape)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	x, err := draw(noise, n)
	if err != nil {
		return nil, err
	}
	ts := s.Timesteps()
	tb := make([]int, shape[0])
	for i, t := range ts {
		for b := range tb {
			tb[b] = t
		}
		out, err := model(x, tb)
		if err != nil {
			return nil, fmt.Errorf("diffusion: model at step %d (t=%d): %w", i, t, err)
		}
		prev, x0, err := s.Step(out, t, x)
		if err != nil {
			return nil, fmt.Errorf("diffusion: step %d (t=%d): %w", i, t, err)
		}
		x = prev
		if callback != nil {
			callback(StepInfo{Index: i, Total: len(ts), T: t, X: x, PredX0: x0})
		}
	}
	return x, nil
}
