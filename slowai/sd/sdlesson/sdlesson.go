// Package sdlesson holds what the Stable Diffusion notebooks share, so their cells show the
// lesson's idea instead of plumbing: the model to use, a picture grid, a test scene and the
// number of sampling steps.
package sdlesson

import (
	"image"
	"math"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/sd/pipeline"
	"github.com/slowai-go/course/slowai/show"
)

// Load returns the model a notebook uses (pipeline.LoadLesson: the real weights if present and not
// in quick mode, else the tiny random model), whether it is the real one, and a sentence saying
// which. It panics on an error, which stops the cell and shows the error.
func Load() (sd *pipeline.StableDiffusion, real bool, note string) {
	be, err := backend.New()
	lesson.Must(err)
	sd, real, note, err = pipeline.LoadLesson(be)
	lesson.Must(err)
	return sd, real, note
}

// Steps is the number of denoising steps: few in quick mode, enough for a clean picture otherwise.
func Steps() int { return lesson.Pick(6, 30) }

// Grid shows colour pictures (all the same size) in rows of cols with a caption under each.
func Grid(title string, cols int, imgs []pipeline.Image, captions []string) {
	show.Must(GridImage(title, cols, imgs, captions))
}

// GridImage draws what Grid shows.
func GridImage(title string, cols int, imgs []pipeline.Image, captions []string) (image.Image, error) {
	pix := make([][]float32, len(imgs))
	for i, im := range imgs {
		pix[i] = im.Pix
	}
	h, w := 0, 0
	if len(imgs) > 0 {
		h, w = imgs[0].H, imgs[0].W
	}
	return show.GridRGB(pix, h, w, cols, captions, title)
}

// Scene paints a test picture of h×w pixels: a sky getting lighter towards the horizon, a yellow
// sun up and to the right, green hills along the bottom.
func Scene(h, w int) pipeline.Image {
	im := pipeline.NewImage(h, w)
	n := h * w
	for y := range h {
		for x := range w {
			fy, fx := float64(y)/float64(h), float64(x)/float64(w)
			r, g, b := 0.35+0.4*fy, 0.55+0.3*fy, 0.95
			if math.Hypot(fx-0.7, fy-0.3) < 0.12 {
				r, g, b = 1, 0.85, 0.25
			}
			if fy > 0.62+0.08*math.Sin(7*fx) {
				r, g, b = 0.2, 0.6-0.25*fy, 0.15
			}
			i := y*w + x
			im.Pix[i], im.Pix[n+i], im.Pix[2*n+i] = float32(r), float32(g), float32(b)
		}
	}
	return im
}

// BlueDistance is the mean distance of the picture's blue channel from target, |blue − target|
// averaged over pixels: what lesson 00's blue-loss guidance pushes down, measured on a decoded
// picture.
func BlueDistance(im pipeline.Image, target float64) float64 {
	n := im.H * im.W
	s := 0.0
	for _, v := range im.Pix[2*n:] {
		s += math.Abs(float64(v) - target)
	}
	return s / float64(n)
}

// Spread is the standard deviation of v, e.g. of the latents during sampling.
func Spread(v []float32) float64 {
	var s, s2 float64
	for _, x := range v {
		s, s2 = s+float64(x), s2+float64(x)*float64(x)
	}
	m := s / float64(len(v))
	return math.Sqrt(max(s2/float64(len(v))-m*m, 0))
}
