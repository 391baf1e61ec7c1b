package diffusion

import (
	"fmt"
	"math/rand/v2"
)

// Noise is where samplers get their Gaussian noise. Keeping it an interface lets a notebook use a
// seeded generator while tests replay the exact noise a reference implementation drew.
type Noise interface {
	// Normal fills dst with independent standard normal samples.
	Normal(dst []float32) error
}

// Gaussian is a seeded Noise: the same seed gives the same images.
type Gaussian struct {
	Rand *rand.Rand
}

// NewGaussian returns a Gaussian noise source seeded with seed.
func NewGaussian(seed uint64) *Gaussian {
	return &Gaussian{Rand: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// Normal fills dst with N(0,1) samples.
func (g *Gaussian) Normal(dst []float32) error {
	for i := range dst {
		dst[i] = float32(g.Rand.NormFloat64())
	}
	return nil
}

// Recorded replays previously captured noise, one slice per call, in order.
type Recorded struct {
	Draws [][]float32
	next  int
}

// Normal copies the next recorded draw into dst; it fails if the recording is used up or the
// draw has a different size, since either means the sampler drew noise at a step it shouldn't.
func (r *Recorded) Normal(dst []float32) error {
	if r.next >= len(r.Draws) {
		return fmt.Errorf("diffusion: recorded noise exhausted after %d draws", len(r.Draws))
	}
	d := r.Draws[r.next]
	if len(d) != len(dst) {
		return fmt.Errorf("diffusion: recorded draw %d has %d values, sampler asked for %d", r.next, len(d), len(dst))
	}
	copy(dst, d)
	r.next++
	return nil
}

// Used reports how many draws have been replayed.
func (r *Recorded) Used() int { return r.next }

// draw allocates n values from src.
func draw(src Noise, n int) ([]float32, error) {
	if src == nil {
		return nil, fmt.Errorf("diffusion: sampler needs noise but its Noise source is nil")
	}
	z := make([]float32, n)
	if err := src.Normal(z); err != nil {
		return nil, err
	}
	return z, nil
}
