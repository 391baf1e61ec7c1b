package data

import (
	"fmt"
	"slices"
)

// Padded returns image i centred on a size×size canvas and scaled from [0, 1] to [-1, 1], the
// border black (-1): the input of lesson 13's denoiser, whose U-Net halves the image twice and so
// wants a side that is a multiple of 4 (28×28 Fashion-MNIST becomes 32×32). It is the loader's
// Scale(2, -1) and Pad(size, -1) applied to one image.
func (d *Dataset) Padded(i, size int) []float32 {
	b := &Batch{X: slices.Clone(d.Image(i)), N: 1, C: d.C, H: d.H, W: d.W, Y: []int32{0}, Index: []int{i}}
	for _, t := range []Transform{Scale(2, -1), Pad(size, -1)} {
		if err := t(b, nil); err != nil {
			panic(fmt.Sprintf("data: %s.Padded(%d, %d): %v", d.Name, i, size, err))
		}
	}
	return b.X
}
