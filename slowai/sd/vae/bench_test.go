package vae

import (
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/sd/weights/weightstest"
)

// BenchmarkSD1Decode is workload W6: SD v1's full-size VAE decoder (random weights), latents
// 1×4×64×64 -> image 1×3×512×512. The backend comes from backend.New.
func BenchmarkSD1Decode(b *testing.B) {
	m := weightstest.Random(b, SD1Config(), NewRandom)
	z := make([]float32, 4*64*64)
	for i := range z {
		z[i] = float32(i%13)/6 - 1
	}
	latents := tensors.FromFlatDataAndDimensions(z, 1, 4, 64, 64)
	weightstest.Loop(b, func() error {
		_, err := m.Decode(latents)
		return err
	})
}
