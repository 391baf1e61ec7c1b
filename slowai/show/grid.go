package show

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Grid lays out grayscale images (each h*w floats, row-major, 0 black .. 1 white; values
// outside are clipped, NaN shows magenta) in a grid with cols columns (0 picks a near-square
// grid). Small images are scaled up by whole pixels (nearest neighbour) so a 28x28 digit is
// easy to see. titles, if not nil, has one caption per image, drawn under it; title goes
// over the whole grid.
func Grid(imgs [][]float32, h, w, cols int, titles []string, title string) (image.Image, error) {
	return grid(imgs, 1, h, w, cols, titles, title)
}

// GridRGB is Grid for colour images stored CHW: 3*h*w floats per image, the red plane,
// then green, then blue (the PyTorch layout the Stable Diffusion VAE produces), each in [0,1].
func GridRGB(imgs [][]float32, h, w, cols int, titles []string, title string) (image.Image, error) {
	return grid(imgs, 3, h, w, cols, titles, title)
}

// Grid geometry, in pixels.
const (
	gridPad     = 6  // space around and between cells
	gridMinCell = 80 // small images are scaled up to at least this size
	gridMaxSlot = 140
	gridFont    = 11 // caption size; the title is a bit larger
)

// gridLayout places every cell; tests use it to find pixels.
type gridLayout struct {
	cols, rows     int
	scale          int
	cellW, cellH   int // scaled image size
	slotW          int // column width: the image or its caption, whichever is wider
	titleH, labelH int
	W, H           int
}

// origin is the top-left pixel of image i.
func (l gridLayout) origin(i int) (x, y int) {
	col, row := i%l.cols, i/l.cols
	x = gridPad + col*(l.slotW+gridPad) + (l.slotW-l.cellW)/2
	y = l.titleH + gridPad + row*(l.cellH+l.labelH+gridPad)
	return
}

func captionStyle(size vg.Length) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, size),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: plot.DefaultTextHandler,
	}
}

func layoutGrid(n, h, w, cols int, titles []string, title string) gridLayout {
	l := gridLayout{cols: cols}
	if l.cols <= 0 {
		l.cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	l.cols = max(1, min(l.cols, n))
	l.rows = (n + l.cols - 1) / l.cols
	l.scale = max(1, (gridMinCell+max(h, w)-1)/max(h, w))
	l.cellW, l.cellH = l.scale*w, l.scale*h
	l.slotW = l.cellW
	if titles != nil {
		sty := captionStyle(gridFont)
		l.labelH = int(math.Ceil(float64(sty.Height("Mg")))) + 4
		for _, t := range titles {
			l.slotW = max(l.slotW, min(gridMaxSlot, int(math.Ceil(float64(sty.Width(t))))+4))
		}
	}
	l.W = gridPad + l.cols*(l.slotW+gridPad)
	if title != "" {
		sty := captionStyle(gridFont + 2)
		l.titleH = int(math.Ceil(float64(sty.Height(title)))) + gridPad
		l.W = max(l.W, int(math.Ceil(float64(sty.Width(title))))+2*gridPad)
	}
	l.H = l.titleH + gridPad + l.rows*(l.cellH+l.labelH+gridPad)
	return l
}

func grid(imgs [][]float32, channels, h, w, cols int, titles []string, title string) (image.Image, error) {
	name := "Grid"
	if channels == 3 {
		name = "GridRGB"
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("show.%s %q: no images", name, title)
	}
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("show.%s %q: image size %dx%d, want positive", name, title, h, w)
	}
	for i, im := range imgs {
		if len(im) != channels*h*w {
			return nil, fmt.Errorf("show.%s %q: image %d has %d values, want %d (%dx%dx%d)",
				name, title, i, len(im), channels*h*w, channels, h, w)
		}
	}
	if titles != nil && len(titles) != len(imgs) {
		return nil, fmt.Errorf("show.%s %q: %d titles for %d images", name, title, len(titles), len(imgs))
	}
	l := layoutGrid(len(imgs), h, w, cols, titles, title)

	// Text goes through gonum's canvas at 72 DPI, so one point is one pixel.
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(l.W), vg.Length(l.H)), vgimg.UseDPI(72))
	dc := draw.New(c)
	if title != "" {
		dc.FillText(captionStyle(gridFont+2), vg.Point{X: vg.Length(l.W) / 2, Y: vg.Length(l.H - gridPad/2)}, title)
	}
	sty := captionStyle(gridFont)
	for i, t := range titles {
		x, y := l.origin(i)
		t = fitText(sty, t, l.slotW)
		dc.FillText(sty, vg.Point{X: vg.Length(x) + vg.Length(l.cellW)/2, Y: vg.Length(l.H - y - l.cellH - 2)}, t)
	}

	out := c.Image()
	plane := h * w
	for i, im := range imgs {
		x0, y0 := l.origin(i)
		for r := 0; r < h; r++ {
			for col := 0; col < w; col++ {
				var px color.RGBA
				if channels == 1 {
					g, ok := unit(im[r*w+col])
					px = color.RGBA{g, g, g, 255}
					if !ok {
						px = color.RGBA{255, 0, 255, 255}
					}
				} else {
					red, ok1 := unit(im[r*w+col])
					gr, ok2 := unit(im[plane+r*w+col])
					bl, ok3 := unit(im[2*plane+r*w+col])
					px = color.RGBA{red, gr, bl, 255}
					if !ok1 || !ok2 || !ok3 {
						px = color.RGBA{255, 0, 255, 255}
					}
				}
				for dy := 0; dy < l.scale; dy++ {
					for dx := 0; dx < l.scale; dx++ {
						out.Set(x0+col*l.scale+dx, y0+r*l.scale+dy, px)
					}
				}
			}
		}
	}
	return out, nil
}

// unit maps [0,1] to a byte, clipping; ok is false for NaN.
func unit(v float32) (b uint8, ok bool) {
	switch {
	case v != v:
		return 0, false
	case v <= 0:
		return 0, true
	case v >= 1:
		return 255, true
	}
	return uint8(v*255 + 0.5), true
}

// fitText shortens s with an ellipsis until it fits in width pixels.
func fitText(sty text.Style, s string, width int) string {
	if float64(sty.Width(s)) <= float64(width) {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && float64(sty.Width(string(r)+"…")) > float64(width) {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
