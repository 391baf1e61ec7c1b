package schedulers

import (
	"fmt"
	"math"

	"github.com/slowai-go/course/slowai/diffusion"
)

// setIntTimesteps picks n integer timesteps with the configured spacing.
func (b *base) setIntTimesteps(n int) error {
	if err := b.checkN(n); err != nil {
		return err
	}
	b.n = n
	b.ts = intTimesteps(b.p, n)
	return nil
}

// InitNoiseSigma is 1: these schedulers work with unit-variance latents.
func (b *base) InitNoiseSigma() float64 { return 1 }

// ScaleModelInput returns x unchanged (a copy).
func (b *base) ScaleModelInput(x []float32, i int) []float32 {
	b.index(i)
	return append([]float32(nil), x...)
}

// AddNoise is the closed-form forward process at timestep t.
func (b *base) AddNoise(x0, noise []float32, t float64) []float32 { return b.alphaNoise(x0, noise, t) }

// prevT is diffusers' previous timestep: t minus T/n (integer division), whatever the spacing.
func (b *base) prevT(t int) int { return t - b.p.numTrain/b.n }

// at returns ᾱ_t, or final for t < 0.
func (b *base) at(t int, final float64) float64 {
	if t < 0 {
		return final
	}
	return b.abar[t]
}

// split is diffusion.Split with diffusers' optional clipping of x0 (ε stays unclipped).
func (b *base) split(out, x []float32, abarT float64) (x0, eps []float32, err error) {
	x0, eps, err = diffusion.Split(out, x, abarT, b.p.prediction)
	if err != nil {
		return nil, nil, fmt.Errorf("schedulers: %s: %w", b.name, err)
	}
	if b.p.clipSample {
		lim := float32(b.p.clipRange)
		for k, v := range x0 {
			x0[k] = min(max(v, -lim), lim)
		}
	}
	return x0, eps, nil
}

// DDIM is diffusers' DDIMScheduler, stepping with diffusion.DDIMUpdate.
type DDIM struct {
	base
	// Eta scales the fresh noise: 0 (the default, deterministic) to 1 (DDPM-like).
	Eta float64
}

// SetTimesteps picks n integer timesteps.
func (d *DDIM) SetTimesteps(n int) error { return d.setIntTimesteps(n) }

// Step moves from timesteps[i] to timesteps[i] - T/n; past the start it lands on ᾱ = 1 or, with
// set_alpha_to_one = false (SD), on ᾱ_0.
func (d *DDIM) Step(out []float32, i int, x []float32) (prev, predX0 []float32, err error) {
	if err := d.checkStep(out, i, x); err != nil {
		return nil, nil, err
	}
	t := int(d.ts[i])
	final := d.abar[0]
	if d.p.setAlphaToOne {
		final = 1
	}
	abarT, abarPrev := d.abar[t], d.at(d.prevT(t), final)
	x0, eps, err := d.split(out, x, abarT)
	if err != nil {
		return nil, nil, err
	}
	sigma := diffusion.DDIMSigma(abarT, abarPrev, d.Eta)
	var z []float32
	if d.Eta > 0 {
		z = make([]float32, len(x))
		if err := d.noise.Normal(z); err != nil {
			return nil, nil, fmt.Errorf("schedulers: ddim step %d: %w", i, err)
		}
	}
	return diffusion.DDIMUpdate(x0, eps, abarPrev, sigma, z), x0, nil
}

// DDPM is diffusers' DDPMScheduler, stepping with diffusion.DDPMUpdate. It draws noise at every
// step with t > 0.
type DDPM struct {
	base
}

// SetTimesteps picks n integer timesteps.
func (d *DDPM) SetTimesteps(n int) error { return d.setIntTimesteps(n) }

// Step samples the posterior q(x_{t'}|x_t, x̂_0) for t' = t - T/n (ᾱ = 1 before the start).
func (d *DDPM) Step(out []float32, i int, x []float32) (prev, predX0 []float32, err error) {
	if err := d.checkStep(out, i, x); err != nil {
		return nil, nil, err
	}
	t := int(d.ts[i])
	abarT, abarPrev := d.abar[t], d.at(d.prevT(t), 1)
	x0, _, err := d.split(out, x, abarT)
	if err != nil {
		return nil, nil, err
	}
	post := diffusion.PosteriorBetween(abarT, abarPrev)
	var z []float32
	std := 0.0
	if t > 0 {
		z = make([]float32, len(x))
		if err := d.noise.Normal(z); err != nil {
			return nil, nil, fmt.Errorf("schedulers: ddpm step %d: %w", i, err)
		}
		switch d.p.varianceType {
		case "fixed_small", "fixed_small_log":
			std = math.Sqrt(math.Max(post.Var, 1e-20)) // diffusers' floor keeps log(var) finite
		case "fixed_large":
			std = math.Sqrt(1 - abarT/abarPrev)
		}
	}
	return diffusion.DDPMUpdate(x0, x, post, std, z), x0, nil
}

// PNDM is diffusers' PNDMScheduler with skip_prk_steps (the PLMS sampler of latent diffusion):
// a fourth-order linear multistep method on the noise predictions. The first step is taken twice
// (timesteps t1 = t2): once as an Euler step to get a second noise estimate, then again from the
// same start with the average of the two (a Heun step); later steps combine the last 2–4 noise
// predictions with Adams–Bashforth weights.
type PNDM struct {
	base
	ets     [][]float32 // past model outputs, most recent last (at most 4)
	cur     []float32   // the sample the repeated first step restarts from
	counter int
	next    int
}

// SetTimesteps builds the n+1 PLMS timesteps and clears the history.
func (p *PNDM) SetTimesteps(n int) error {
	if err := p.checkN(n); err != nil {
		return err
	}
	p.n = n
	asc := intTimesteps(p.p, n) // noisiest first
	reverse(asc)
	// diffusers: concat(ts[:-1], ts[-2:-1], ts[-1:]) reversed, i.e. the second-noisiest timestep
	// appears twice (901, 801, 801, 701, ...).
	k := len(asc)
	plms := append(append(append([]float64{}, asc[:k-1]...), asc[max(k-2, 0):k-1]...), asc[k-1:]...)
	reverse(plms)
	p.ts = plms
	p.ets, p.cur, p.counter, p.next = nil, nil, 0, -1
	return nil
}

// Step takes one PLMS step. It returns no predicted x0.
func (p *PNDM) Step(out []float32, i int, x []float32) (prev, predX0 []float32, err error) {
	if err := p.checkStep(out, i, x); err != nil {
		return nil, nil, err
	}
	if p.next >= 0 && i != p.next {
		return nil, nil, fmt.Errorf("schedulers: pndm: step %d called after step %d; PNDM steps must run in order (SetTimesteps restarts)", i, p.next-1)
	}
	ratio := p.p.numTrain / p.n
	t := int(p.ts[i])
	tPrev := t - ratio
	if p.counter != 1 {
		if len(p.ets) > 3 {
			p.ets = p.ets[len(p.ets)-3:]
		}
		p.ets = append(p.ets, append([]float32(nil), out...))
	} else {
		// The repeated step: go from the previous (noisier) timestep again.
		tPrev, t = t, t+ratio
	}
	e := make([]float64, len(x))
	sample := x
	n := len(p.ets)
	et := func(back, k int) float64 { return float64(p.ets[n-1-back][k]) }
	switch {
	case n == 1 && p.counter == 0:
		for k := range e {
			e[k] = float64(out[k])
		}
		p.cur = append([]float32(nil), x...)
	case n == 1 && p.counter == 1:
		for k := range e {
			e[k] = (float64(out[k]) + et(0, k)) / 2
		}
		sample, p.cur = p.cur, nil
	case n == 2:
		for k := range e {
			e[k] = (3*et(0, k) - et(1, k)) / 2
		}
	case n == 3:
		for k := range e {
			e[k] = (23*et(0, k) - 16*et(1, k) + 5*et(2, k)) / 12
		}
	default:
		for k := range e {
			e[k] = (55*et(0, k) - 59*et(1, k) + 37*et(2, k) - 9*et(3, k)) / 24
		}
	}
	final := p.abar[0]
	if p.p.setAlphaToOne {
		final = 1
	}
	prev = p.prevSample(sample, t, tPrev, e, final)
	p.counter++
	p.next = i + 1
	return prev, nil, nil
}

// prevSample is formula (9) of the PNDM paper: the DDIM-like transfer of x_t to the earlier
// timestep given the noise estimate e.
func (p *PNDM) prevSample(x []float32, t, tPrev int, e []float64, final float64) []float32 {
	aT, aP := p.abar[t], p.at(tPrev, final)
	bT, bP := 1-aT, 1-aP
	if p.p.prediction == diffusion.VPrediction {
		for k := range e {
			e[k] = math.Sqrt(aT)*e[k] + math.Sqrt(bT)*float64(x[k])
		}
	}
	sampleCoef := math.Sqrt(aP / aT)
	den := aT*math.Sqrt(bP) + math.Sqrt(aT*bT*aP)
	out := make([]float32, len(x))
	for k := range x {
		out[k] = float32(sampleCoef*float64(x[k]) - (aP-aT)*e[k]/den)
	}
	return out
}
