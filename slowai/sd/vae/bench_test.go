package vae

import (
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
)

// BenchmarkSD1Decode is workload W6: SD v1's full-size VAE decoder (random weights), latents
// 1×4×64×64 -> image 1×3×512×512. The backend comes from backend.New.
func BenchmarkSD1Decode(b *testing.B) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewRandom(SD1Config(), be, 1)
	if err != nil {
		b.Fatal(err)
	}
	z := make([]float32, 4*64*64)
	for i := range z {
		z[i] = float32(i%13)/6 - 1
	}
	latents := tensors.FromFlatDataAndDimensions(z, 1, 4, 64, 64)
	if _, err := m.Decode(latents); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.Decode(latents); err != nil {
			b.Fatal(err)
		}
	}
}
