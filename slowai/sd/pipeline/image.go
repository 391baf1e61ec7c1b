package pipeline

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"

	_ "image/jpeg" // init images may be JPEGs

	"github.com/slowai-go/course/slowai/safefile"
)

// Image is an RGB picture stored CHW — the red plane, then green, then blue — with values in
// [0, 1]: the layout the VAE works in and show.GridRGB draws.
type Image struct {
	H, W int
	Pix  []float32 // 3·H·W values
}

// NewImage returns a black image.
func NewImage(h, w int) Image { return Image{H: h, W: w, Pix: make([]float32, 3*h*w)} }

// Check reports a Pix length that does not match H and W.
func (im Image) Check() error {
	if im.H <= 0 || im.W <= 0 || len(im.Pix) != 3*im.H*im.W {
		return fmt.Errorf("pipeline: image of %d×%d needs %d values, has %d", im.H, im.W, 3*max(im.H, 0)*max(im.W, 0), len(im.Pix))
	}
	return nil
}

// byte8 is numpy's (x*255).round().astype(uint8) for x in [0, 1]: float32 product, round half
// to even (what diffusers' numpy_to_pil does), clamped.
func byte8(x float32) uint8 {
	v := math.RoundToEven(float64(x * 255))
	return uint8(min(max(v, 0), 255))
}

// RGBA converts to a Go image, rounding like diffusers does when it saves a PNG.
func (im Image) RGBA() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
	n := im.H * im.W
	for y := range im.H {
		for x := range im.W {
			i := y*im.W + x
			out.SetRGBA(x, y, color.RGBA{byte8(im.Pix[i]), byte8(im.Pix[n+i]), byte8(im.Pix[2*n+i]), 255})
		}
	}
	return out
}

// HWC returns the values in height × width × channel order (diffusers' "np" output).
func (im Image) HWC() []float32 {
	n := im.H * im.W
	out := make([]float32, 3*n)
	for i := range n {
		for c := range 3 {
			out[3*i+c] = im.Pix[c*n+i]
		}
	}
	return out
}

// Bytes returns HWC uint8 values, rounded as RGBA does.
func (im Image) Bytes() []uint8 {
	hwc := im.HWC()
	out := make([]uint8, len(hwc))
	for i, v := range hwc {
		out[i] = byte8(v)
	}
	return out
}

// FromImage converts any Go image to an Image (alpha ignored).
func FromImage(img image.Image) Image {
	b := img.Bounds()
	im := NewImage(b.Dy(), b.Dx())
	n := im.H * im.W
	for y := range im.H {
		for x := range im.W {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := y*im.W + x
			im.Pix[i] = float32(r) / 65535
			im.Pix[n+i] = float32(g) / 65535
			im.Pix[2*n+i] = float32(bl) / 65535
		}
	}
	return im
}

// ReadImage decodes a PNG or JPEG file.
func ReadImage(path string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, fmt.Errorf("pipeline: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return Image{}, fmt.Errorf("pipeline: %s: expected a PNG or JPEG image: %w", path, err)
	}
	return FromImage(img), nil
}

// WritePNG saves the image through a temporary file and a rename.
func (im Image) WritePNG(path string) error {
	if err := im.Check(); err != nil {
		return err
	}
	f, err := safefile.Create(path)
	if err != nil {
		return fmt.Errorf("pipeline: writing %s: %w", path, err)
	}
	defer f.Abort()
	if err := png.Encode(f, im.RGBA()); err != nil {
		return fmt.Errorf("pipeline: writing %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("pipeline: writing %s: %w", path, err)
	}
	return nil
}

// Resize scales the image to h×w with bilinear interpolation (pixel centres aligned, like
// PIL's bilinear resize when enlarging), for init images of another size.
func (im Image) Resize(h, w int) Image {
	if h == im.H && w == im.W {
		return Image{H: h, W: w, Pix: append([]float32(nil), im.Pix...)}
	}
	out := NewImage(h, w)
	sy, sx := float64(im.H)/float64(h), float64(im.W)/float64(w)
	n, m := im.H*im.W, h*w
	for y := range h {
		fy := min(max((float64(y)+0.5)*sy-0.5, 0), float64(im.H-1))
		y0 := int(fy)
		y1 := min(y0+1, im.H-1)
		wy := float32(fy - float64(y0))
		for x := range w {
			fx := min(max((float64(x)+0.5)*sx-0.5, 0), float64(im.W-1))
			x0 := int(fx)
			x1 := min(x0+1, im.W-1)
			wx := float32(fx - float64(x0))
			for c := range 3 {
				p := im.Pix[c*n:]
				top := p[y0*im.W+x0]*(1-wx) + p[y0*im.W+x1]*wx
				bot := p[y1*im.W+x0]*(1-wx) + p[y1*im.W+x1]*wx
				out.Pix[c*m+y*w+x] = top*(1-wy) + bot*wy
			}
		}
	}
	return out
}

// Clamp01 returns clamp(x/2 + 0.5, 0, 1) for VAE output x in [-1, 1], in float32 as diffusers
// computes it.
func Clamp01(raw []float32) []float32 {
	out := make([]float32, len(raw))
	for i, v := range raw {
		out[i] = min(max(v/2+0.5, 0), 1)
	}
	return out
}
