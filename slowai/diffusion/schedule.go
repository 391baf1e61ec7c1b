// Package diffusion is the course's from-scratch denoising diffusion (DDPM, lesson 13): noise
// schedules, the closed-form forward process q(x_t|x_0), the posterior q(x_{t-1}|x_t,x_0), the
// ε-prediction loss, and the DDPM and DDIM samplers that turn a noise-predicting model into images.
//
// Everything here is plain host arithmetic on []float32 latents, so the same math drives the
// Fashion-MNIST lesson and the Stable Diffusion schedulers in slowai/sd/schedulers.
//
// Timesteps are 0-based like PyTorch code: t = 0 is the least noisy step, t = T-1 the noisiest.
package diffusion

import (
	"fmt"
	"math"
)

// Schedule holds a variance schedule and the products derived from it. Index t runs 0..T-1.
//
// The constructors compute β and α the way PyTorch does in float32 and accumulate ᾱ in float64
// as PyTorch's CPU cumprod does, so float32(ᾱ_t) equals diffusers' alphas_cumprod bit for bit
// while ᾱ_t = α_t·ᾱ_{t-1} still holds to double precision for the course's identities.
type Schedule struct {
	Betas     []float64 // β_t = 1-α_t, the variance of the noise added at step t
	Alphas    []float64 // α_t = 1 - β_t
	AlphaBars []float64 // ᾱ_t = α_0·α_1·…·α_t, the signal fraction surviving to step t
}

// T is the number of training timesteps.
func (s *Schedule) T() int { return len(s.Betas) }

// AlphaBar returns ᾱ_t, and 1 for t < 0 (no noise before the first step).
func (s *Schedule) AlphaBar(t int) float64 {
	if t < 0 {
		return 1
	}
	return s.AlphaBars[t]
}

// Sigma returns σ_t = sqrt((1-ᾱ_t)/ᾱ_t), the noise level of step t in the "variance exploding"
// parametrisation x = x_0 + σ ε used by the k-diffusion style samplers (LMS, Euler).
func (s *Schedule) Sigma(t int) float64 {
	a := s.AlphaBars[t]
	return math.Sqrt((1 - a) / a)
}

// Linspace32 reproduces torch.linspace(start, end, n, dtype=float32) on an AVX2 CPU bit for bit,
// which is what makes ᾱ identical to diffusers' table rather than merely close. PyTorch computes
// the step in float32, fills the first half counting up from start and the second half counting
// down from end (so both endpoints are exact), and does it 8 lanes at a time: each lane block
// starts at a fused multiply-add base and adds j·step per lane; a short tail is done one by one.
func Linspace32(start, end float64, n int) []float32 {
	out := make([]float32, n)
	if n == 1 {
		out[0] = float32(start)
	}
	if n <= 1 {
		return out
	}
	s, e := float32(start), float32(end)
	step := float32(e-s) / float32(n-1)
	half := n / 2
	// fma rounds a·b+c once (the float64 product of two float32s is exact).
	fma := func(a, b, c float32) float32 { return float32(float64(a)*float64(b) + float64(c)) }
	at := func(i int) float32 {
		if i < half {
			return fma(step, float32(i), s)
		}
		return fma(-step, float32(n-1-i), e)
	}
	const lanes = 8
	i := 0
	for ; i+2*lanes <= n; i += 2 * lanes { // PyTorch's loop does two vectors per trip
		for k := i; k < i+2*lanes; k += lanes {
			base := at(k)
			for j := 0; j < lanes; j++ {
				out[k+j] = base + float32(float32(j)*step) // conversion: no FMA fusion
			}
		}
	}
	for ; i < n; i++ {
		out[i] = at(i)
	}
	return out
}

// FromBetas derives α and ᾱ from float32 betas the way PyTorch does: α = 1-β in float32 and
// cumprod accumulated in double (PyTorch then stores it as float32; we keep the double).
// Betas are stored as 1-α, the variances the float32 α's really imply (within 6e-8 of the
// requested ones), so that α+β = 1 and ᾱ_t = α_t·ᾱ_{t-1} hold exactly.
func FromBetas(betas []float32) (*Schedule, error) {
	if len(betas) == 0 {
		return nil, fmt.Errorf("diffusion: empty beta schedule")
	}
	s := &Schedule{
		Betas:     make([]float64, len(betas)),
		Alphas:    make([]float64, len(betas)),
		AlphaBars: make([]float64, len(betas)),
	}
	acc := 1.0
	for i, b := range betas {
		if !(b > 0 && b < 1) {
			return nil, fmt.Errorf("diffusion: beta[%d] = %g, expected 0 < β < 1", i, b)
		}
		a := 1 - b
		acc *= float64(a)
		s.Betas[i] = 1 - float64(a)
		s.Alphas[i] = float64(a)
		s.AlphaBars[i] = acc
	}
	return s, nil
}

func mustFromBetas(betas []float32) *Schedule {
	s, err := FromBetas(betas)
	if err != nil {
		panic(err)
	}
	return s
}

// LinearSchedule is the original DDPM schedule, β linearly from betaMin to betaMax
// (the course uses 1000 steps from 0.0001 to 0.02).
func LinearSchedule(T int, betaMin, betaMax float64) *Schedule {
	return mustFromBetas(Linspace32(betaMin, betaMax, T))
}

// ScaledLinearSchedule is Stable Diffusion's schedule: β spaced linearly in sqrt(β), i.e.
// linspace(√start, √end, T)², squared in float32 as diffusers does.
func ScaledLinearSchedule(T int, betaStart, betaEnd float64) *Schedule {
	b := Linspace32(math.Sqrt(betaStart), math.Sqrt(betaEnd), T)
	for i := range b {
		b[i] *= b[i]
	}
	return mustFromBetas(b)
}

// CosineSchedule is the improved-DDPM schedule (Nichol & Dhariwal 2021): ᾱ(t) follows
// cos²((t/T+s)/(1+s)·π/2), so the signal decays gently at both ends; each β is capped at 0.999
// to keep the last steps finite. s = 0.008 in the paper and in diffusers' "squaredcos_cap_v2".
func CosineSchedule(T int, s float64) *Schedule {
	abar := func(u float64) float64 {
		c := math.Cos((u + s) / (1 + s) * math.Pi / 2)
		return c * c
	}
	b := make([]float32, T)
	for i := range b {
		t1, t2 := float64(i)/float64(T), float64(i+1)/float64(T)
		b[i] = float32(math.Min(1-abar(t2)/abar(t1), 0.999))
	}
	return mustFromBetas(b)
}

// Posterior holds q(x_{t'}|x_t, x_0) = N(X0·x_0 + Xt·x_t, Var) for an earlier step t' < t.
type Posterior struct {
	X0, Xt, Var float64
}

// PosteriorBetween gives the posterior for jumping from a step with ᾱ = abarT back to one with
// ᾱ = abarPrev. The jump acts like a single step with α = abarT/abarPrev, so the same formula
// serves adjacent steps (DDPM training) and strided ones (sampling with fewer steps):
//
//	X0  = sqrt(ᾱ_prev)·β / (1-ᾱ_t)
//	Xt  = sqrt(α)·(1-ᾱ_prev) / (1-ᾱ_t)
//	Var = (1-ᾱ_prev)/(1-ᾱ_t)·β          (DDPM's "fixed_small" variance)
//
// with α = ᾱ_t/ᾱ_prev and β = 1-α.
func PosteriorBetween(abarT, abarPrev float64) Posterior {
	alpha := abarT / abarPrev
	beta := 1 - alpha
	return Posterior{
		X0:  math.Sqrt(abarPrev) * beta / (1 - abarT),
		Xt:  math.Sqrt(alpha) * (1 - abarPrev) / (1 - abarT),
		Var: (1 - abarPrev) / (1 - abarT) * beta,
	}
}

// Posterior returns q(x_{t-1}|x_t, x_0) for adjacent steps (ᾱ_{-1} = 1).
func (s *Schedule) Posterior(t int) Posterior {
	return PosteriorBetween(s.AlphaBar(t), s.AlphaBar(t-1))
}
