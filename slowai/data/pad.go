package data

import "fmt"

// Padded returns image i centred on a size×size canvas and scaled from [0, 1] to [-1, 1], the
// border black (-1): the input of lesson 13's denoiser, whose U-Net halves the image twice and so
// wants a side that is a multiple of 4 (28×28 Fashion-MNIST becomes 32×32).
func (d *Dataset) Padded(i, size int) []float32 {
	if size < d.H || size < d.W {
		panic(fmt.Sprintf("data: %s.Padded(%d, %d): canvas smaller than the %d×%d image", d.Name, i, size, d.H, d.W))
	}
	out := make([]float32, size*size)
	for j := range out {
		out[j] = -1
	}
	img := d.Image(i)
	top, left := (size-d.H)/2, (size-d.W)/2
	for r := range d.H {
		for c := range d.W {
			out[(r+top)*size+c+left] = 2*img[r*d.W+c] - 1
		}
	}
	return out
}
