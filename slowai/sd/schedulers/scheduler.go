// Package schedulers implements Stable Diffusion's samplers with the semantics of Hugging Face
// diffusers 0.25: LMS, DDIM, DDPM, Euler, Euler ancestral and PNDM (PLMS). Each is built from a
// diffusers scheduler config and reproduces diffusers' roll-outs to float32 accuracy (see
// CheckGolden).
//
// One difference in shape from diffusers: ScaleModelInput and Step take the step index i (the
// position in Timesteps()) rather than the timestep value. diffusers looks the index up from the
// timestep; passing it directly avoids that search and the ambiguity of PNDM's repeated timestep.
// Always go through the steps in order 0, 1, 2, ... after SetTimesteps; LMS and PNDM remember
// earlier steps and reject out-of-order calls (a first call at i > 0 is allowed, for img2img).
//
// The DDPM and DDIM updates reuse slowai/diffusion's math.
package schedulers

import (
	"fmt"
	"math"

	"github.com/slowai-go/course/slowai/diffusion"
)

// Scheduler is a diffusers-style sampler: a small state machine driven by the pipeline loop.
type Scheduler interface {
	// SetTimesteps chooses n inference steps and resets any multistep state.
	SetTimesteps(n int) error
	// Timesteps lists the timestep the model is given at each step: integers for DDIM, DDPM and
	// PNDM (PNDM has n+1 entries, one repeated), fractional for LMS, Euler and Euler ancestral.
	Timesteps() []float64
	// InitNoiseSigma is the standard deviation to scale the initial Gaussian latents by.
	InitNoiseSigma() float64
	// ScaleModelInput returns the UNet input for the sample entering step stepIndex
	// (x/sqrt(σ²+1) for σ-schedulers, x itself otherwise).
	ScaleModelInput(x []float32, stepIndex int) []float32
	// Step takes the model output at step stepIndex for sample x and returns the next sample and
	// the predicted clean sample (nil for PNDM, which does not form one).
	Step(modelOutput []float32, stepIndex int, x []float32) (prev, predX0 []float32, err error)
	// AddNoise noises clean latents to timestep t (img2img): x0 + σ(t)·noise for σ-schedulers,
	// sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·noise otherwise.
	AddNoise(x0, noise []float32, t float64) []float32
}

// NoiseSetter is implemented by every scheduler here. Stochastic ones (DDPM, Euler ancestral,
// DDIM with Eta > 0) draw from this source; the default is diffusion.NewGaussian(0). Tests swap
// in a diffusion.Recorded to replay another implementation's noise.
type NoiseSetter interface {
	SetNoise(n diffusion.Noise)
}

// base is what every scheduler shares: the training schedule and the current timesteps.
type base struct {
	name  string
	p     params
	sched *diffusion.Schedule
	abar  []float64 // ᾱ rounded to float32, exactly diffusers' alphas_cumprod
	ts    []float64
	n     int // inference steps
	noise diffusion.Noise
}

func newBase(name string, p params) (base, error) {
	var s *diffusion.Schedule
	var err error
	switch {
	case p.trainedBetas != nil:
		b := make([]float32, len(p.trainedBetas))
		for i, v := range p.trainedBetas {
			b[i] = float32(v)
		}
		s, err = diffusion.FromBetas(b)
	case p.betaSchedule == "linear":
		s = diffusion.LinearSchedule(p.numTrain, p.betaStart, p.betaEnd)
	case p.betaSchedule == "scaled_linear":
		s = diffusion.ScaledLinearSchedule(p.numTrain, p.betaStart, p.betaEnd)
	case p.betaSchedule == "squaredcos_cap_v2":
		s = diffusion.CosineSchedule(p.numTrain, 0.008)
	}
	if err != nil {
		return base{}, fmt.Errorf("schedulers: %s config: trained_betas: %w", name, err)
	}
	abar := make([]float64, s.T())
	for i, a := range s.AlphaBars {
		abar[i] = float64(float32(a))
	}
	return base{name: name, p: p, sched: s, abar: abar, noise: diffusion.NewGaussian(0)}, nil
}

// SetNoise replaces the noise source of stochastic steps.
func (b *base) SetNoise(n diffusion.Noise) { b.noise = n }

// Schedule is the training noise schedule (β, α, ᾱ in float64).
func (b *base) Schedule() *diffusion.Schedule { return b.sched }

// AlphasCumprod is ᾱ as diffusers stores it (float32 values).
func (b *base) AlphasCumprod() []float64 { return append([]float64(nil), b.abar...) }

// Timesteps returns a copy of the current timesteps.
func (b *base) Timesteps() []float64 { return append([]float64(nil), b.ts...) }

func (b *base) checkN(n int) error {
	if n < 1 || n > b.p.numTrain {
		return fmt.Errorf("schedulers: %s: %d inference steps, expected 1..%d", b.name, n, b.p.numTrain)
	}
	return nil
}

// index panics on a step index outside the timesteps: it is a bug in the calling loop
// (the methods without an error result use it).
func (b *base) index(i int) {
	if i < 0 || i >= len(b.ts) {
		panic(fmt.Sprintf("schedulers: %s: step index %d outside 0..%d (did you call SetTimesteps?)", b.name, i, len(b.ts)-1))
	}
}

func (b *base) checkStep(out []float32, i int, x []float32) error {
	if i < 0 || i >= len(b.ts) {
		return fmt.Errorf("schedulers: %s: step index %d outside 0..%d (did you call SetTimesteps?)", b.name, i, len(b.ts)-1)
	}
	if len(out) != len(x) {
		return fmt.Errorf("schedulers: %s: model output has %d values, sample has %d", b.name, len(out), len(x))
	}
	return nil
}

func sameLen(name string, a, b []float32) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("schedulers: %s: AddNoise samples have %d values, noise %d", name, len(a), len(b)))
	}
}

// intTimesteps is diffusers' integer timestep spacing (DDIM, DDPM), noisiest first.
func intTimesteps(p params, n int) []float64 {
	T := p.numTrain
	var ts []float64
	switch p.spacing {
	case "linspace":
		for _, v := range npLinspace(0, float64(T-1), n) {
			ts = append(ts, math.RoundToEven(v))
		}
		reverse(ts)
	case "leading":
		ratio := T / n
		for k := n - 1; k >= 0; k-- {
			ts = append(ts, float64(k*ratio+p.stepsOffset))
		}
	case "trailing":
		for _, v := range npArange(float64(T), 0, -float64(T)/float64(n)) {
			ts = append(ts, math.RoundToEven(v)-1)
		}
	}
	return ts
}

// floatTimesteps is the σ-schedulers' spacing (LMS, Euler): float32 values, noisiest first.
func floatTimesteps(p params, n int) []float64 {
	T := p.numTrain
	var ts []float64
	switch p.spacing {
	case "linspace":
		for _, v := range npLinspace(0, float64(T-1), n) {
			ts = append(ts, float64(float32(v)))
		}
		reverse(ts)
	case "leading":
		ratio := T / n
		for k := n - 1; k >= 0; k-- {
			ts = append(ts, float64(float32(k*ratio))+float64(p.stepsOffset))
		}
	case "trailing":
		for _, v := range npArange(float64(T), 0, -float64(T)/float64(n)) {
			ts = append(ts, float64(float32(math.RoundToEven(v)))-1)
		}
	}
	return ts
}

// npLinspace is numpy.linspace(start, stop, n) in float64.
func npLinspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[n-1] = stop
	return out
}

// npArange is numpy.arange(start, stop, step) for float arguments (length ceil((stop-start)/step)).
func npArange(start, stop, step float64) []float64 {
	n := int(math.Ceil((stop - start) / step))
	out := make([]float64, max(n, 0))
	for i := range out {
		out[i] = start + float64(i)*step
	}
	return out
}

func reverse(v []float64) {
	for i, j := 0, len(v)-1; i < j; i, j = i+1, j-1 {
		v[i], v[j] = v[j], v[i]
	}
}

// alphaNoise is sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·noise at the nearest integer timestep (clamped to the
// table), the forward process the DDPM-family schedulers add noise with.
func (b *base) alphaNoise(x0, noise []float32, t float64) []float32 {
	sameLen(b.name, x0, noise)
	i := int(math.Round(t))
	i = min(max(i, 0), len(b.abar)-1)
	a := float32(math.Sqrt(b.abar[i]))
	c := float32(math.Sqrt(1 - b.abar[i]))
	out := make([]float32, len(x0))
	for k := range out {
		out[k] = a*x0[k] + c*noise[k]
	}
	return out
}
