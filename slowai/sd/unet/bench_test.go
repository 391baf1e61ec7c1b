package unet

import (
	"fmt"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/sd/weights/weightstest"
)

// BenchmarkSD1Predict is workload W4: SD v1's full-size UNet (random weights), one forward on a
// classifier-free-guidance batch of 2 with a 2×77×768 text context, at 32×32 and 64×64 latents.
// The backend comes from backend.New.
func BenchmarkSD1Predict(b *testing.B) {
	u := weightstest.Random(b, SD1Config(), NewRandom)
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%17)/8 - 1
		}
		return v
	}
	ctx := tensors.FromFlatDataAndDimensions(fill(2*77*768), 2, 77, 768)
	t := tensors.FromScalar(float32(500))
	for _, size := range []int{32, 64} {
		b.Run(fmt.Sprintf("%dx%d", size, size), func(b *testing.B) {
			x := tensors.FromFlatDataAndDimensions(fill(2*4*size*size), 2, 4, size, size)
			weightstest.Loop(b, func() error {
				_, err := u.Predict(x, t, ctx)
				return err
			})
		})
	}
}
