package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Normalize maps every value x to (x-mean)/std, the usual way to give inputs zero mean and
// unit variance. std must be finite and non-zero.
func Normalize(mean, std float32) Transform {
	return func(b *Batch, _ *rand.Rand) error {
		if std == 0 || math.IsNaN(float64(std)) || math.IsInf(float64(std), 0) {
			return fmt.Errorf("data.Normalize: std = %g, want finite and non-zero", std)
		}
		inv := 1 / std
		for i, x := range b.X {
			b.X[i] = (x - mean) * inv
		}
		return nil
	}
}

// Scale maps every value x to x·a + b: Scale(2, -1) takes [0,1] pixels to [-1,1].
func Scale(a, b float32) Transform {
	return func(bt *Batch, _ *rand.Rand) error {
		for i, x := range bt.X {
			bt.X[i] = x*a + b
		}
		return nil
	}
}

// Pad surrounds every image with value until it is to×to, centred: when the margin is
// odd, the extra row (column) goes at the bottom (right). MNIST's 28×28 → 32×32 suits a
// U-Net that halves the size three times. It is an error if the image is larger than to.
func Pad(to int, value float32) Transform {
	return func(b *Batch, _ *rand.Rand) error {
		if to < b.H || to < b.W {
			return fmt.Errorf("data.Pad(%d): images are %dx%d, want to >= both", to, b.H, b.W)
		}
		if to == b.H && to == b.W {
			return nil
		}
		top, left := (to-b.H)/2, (to-b.W)/2
		out := make([]float32, b.N*b.C*to*to)
		for i := range out {
			out[i] = value
		}
		for p := range b.N * b.C { // p: one channel of one image
			src, dst := b.X[p*b.H*b.W:(p+1)*b.H*b.W], out[p*to*to:(p+1)*to*to]
			for r := range b.H {
				copy(dst[(top+r)*to+left:(top+r)*to+left+b.W], src[r*b.W:(r+1)*b.W])
			}
		}
		b.X, b.H, b.W = out, to, to
		return nil
	}
}

// RandomFlip mirrors each image left to right with probability p (all its channels
// alike): clothes and most photos look just as real mirrored. Digits do not.
func RandomFlip(p float64) Transform {
	return func(b *Batch, rng *rand.Rand) error {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("data.RandomFlip(%g): p, a probability, want in [0,1]", p)
		}
		if rng == nil {
			return nil
		}
		sz := b.C * b.H * b.W
		for i := range b.N {
			if rng.Float64() >= p {
				continue
			}
			img := b.X[i*sz : (i+1)*sz]
			for r := range b.C * b.H {
				row := img[r*b.W : (r+1)*b.W]
				for j, k := 0, b.W-1; j < k; j, k = j+1, k-1 {
					row[j], row[k] = row[k], row[j]
				}
			}
		}
		return nil
	}
}

// RandomCrop shifts each image by a random whole number of pixels, from -pad to pad in
// each direction: it zero-pads the image by pad on every side and crops a window of the
// original size at a random place (the same for all channels). The padding is zero, as in
// torchvision's RandomCrop, so put it before Normalize or Scale, where 0 is the background.
func RandomCrop(pad int) Transform {
	return func(b *Batch, rng *rand.Rand) error {
		if pad < 0 {
			return fmt.Errorf("data.RandomCrop(%d): pad want >= 0", pad)
		}
		if rng == nil || pad == 0 {
			return nil
		}
		h, w := b.H, b.W
		sz := b.C * h * w
		tmp := make([]float32, sz)
		for i := range b.N {
			// The window's top-left corner in the padded image is (dy, dx) in [0, 2pad]²,
			// so output (r, c) reads input (r+dy-pad, c+dx-pad), or 0 outside the image.
			dy, dx := rng.IntN(2*pad+1)-pad, rng.IntN(2*pad+1)-pad
			img := b.X[i*sz : (i+1)*sz]
			clear(tmp)
			for ch := range b.C {
				for r := range h {
					sr := r + dy
					if sr < 0 || sr >= h {
						continue
					}
					c0, c1 := max(0, -dx), min(w, w-dx) // output columns whose source is inside
					if c0 >= c1 {
						continue
					}
					copy(tmp[(ch*h+r)*w+c0:(ch*h+r)*w+c1], img[(ch*h+sr)*w+c0+dx:(ch*h+sr)*w+c1+dx])
				}
			}
			copy(img, tmp)
		}
		return nil
	}
}
