package show

import (
	"fmt"
	"image"
	"image/draw"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure size for plots: 6x4 inches at 96 DPI, 576x384 pixels.
const (
	FigWidth  = 6 * vg.Inch
	FigHeight = 4 * vg.Inch
)

// Series is one named curve or point cloud. X may be nil: the points are then at
// x = 0, 1, 2, ..., which is what a loss curve by step wants.
type Series struct {
	Name string
	X, Y []float64
}

// NewPlot starts a gonum plot with a title and axis labels, for figures the helpers here
// do not cover; draw it with Render.
func NewPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	return p
}

// Render draws p into an image of w x h (FigWidth, FigHeight for the standard size).
// Gonum panics on some degenerate input; that comes back as an error.
func Render(p *plot.Plot, w, h vg.Length) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("show: drawing plot %q: %v", p.Title.Text, r)
		}
	}()
	c := vgimg.New(w, h)
	p.Draw(vgdraw.New(c))
	return c.Image(), nil
}

// Lines plots each series as a line, in its own colour and dash, with a legend when any
// series has a name.
func Lines(title, xlabel, ylabel string, series ...Series) (image.Image, error) {
	return xyPlot("Lines", title, xlabel, ylabel, series, func(i int, xys plotter.XYs) (plot.Plotter, plot.Thumbnailer, error) {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, nil, err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		l.Width = vg.Points(1.5)
		return l, l, nil
	})
}

// Scatter plots each series as points, in its own colour and glyph shape.
func Scatter(title, xlabel, ylabel string, series ...Series) (image.Image, error) {
	return xyPlot("Scatter", title, xlabel, ylabel, series, func(i int, xys plotter.XYs) (plot.Plotter, plot.Thumbnailer, error) {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, nil, err
		}
		s.Color = plotutil.Color(i)
		s.Shape = glyphs[i%len(glyphs)]
		s.Radius = vg.Points(2)
		return s, s, nil
	})
}

// glyphs for scatter series: filled shapes first, as they read best at small sizes.
var glyphs = []vgdraw.GlyphDrawer{vgdraw.CircleGlyph{}, vgdraw.BoxGlyph{}, vgdraw.PyramidGlyph{},
	vgdraw.RingGlyph{}, vgdraw.SquareGlyph{}, vgdraw.TriangleGlyph{}, vgdraw.CrossGlyph{}, vgdraw.PlusGlyph{}}

func xyPlot(fn, title, xlabel, ylabel string, series []Series,
	mk func(i int, xys plotter.XYs) (plot.Plotter, plot.Thumbnailer, error)) (image.Image, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("show.%s %q: no series", fn, title)
	}
	p := NewPlot(title, xlabel, ylabel)
	for i, s := range series {
		xys, err := s.xys()
		if err != nil {
			return nil, fmt.Errorf("show.%s %q: %w", fn, title, err)
		}
		pl, thumb, err := mk(i, xys)
		if err != nil {
			return nil, fmt.Errorf("show.%s %q: series %q: %w", fn, title, s.Name, err)
		}
		p.Add(pl)
		if s.Name != "" {
			p.Legend.Add(s.Name, thumb)
		}
	}
	p.Legend.Top = true
	return Render(p, FigWidth, FigHeight)
}

// xys checks the series and pairs its coordinates.
func (s Series) xys() (plotter.XYs, error) {
	if len(s.Y) == 0 {
		return nil, fmt.Errorf("series %q has no points", s.Name)
	}
	if s.X != nil && len(s.X) != len(s.Y) {
		return nil, fmt.Errorf("series %q has %d x values and %d y values, want equal", s.Name, len(s.X), len(s.Y))
	}
	xys := make(plotter.XYs, len(s.Y))
	for i, y := range s.Y {
		x := float64(i)
		if s.X != nil {
			x = s.X[i]
		}
		if !finite(x) || !finite(y) {
			return nil, fmt.Errorf("series %q point %d is (%g, %g), want finite numbers", s.Name, i, x, y)
		}
		xys[i] = plotter.XY{X: x, Y: y}
	}
	return xys, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Histogram counts values into bins equal-width bins; the y axis is the count.
func Histogram(title, xlabel string, values []float64, bins int) (image.Image, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("show.Histogram %q: no values", title)
	}
	if bins <= 0 {
		return nil, fmt.Errorf("show.Histogram %q: %d bins, want at least 1", title, bins)
	}
	for i, v := range values {
		if !finite(v) {
			return nil, fmt.Errorf("show.Histogram %q: value %d is %g, want a finite number", title, i, v)
		}
	}
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil {
		return nil, fmt.Errorf("show.Histogram %q: %w", title, err)
	}
	h.FillColor = plotutil.Color(0)
	p := NewPlot(title, xlabel, "count")
	p.Add(h)
	return Render(p, FigWidth, FigHeight)
}

// Heatmap draws a rows x cols matrix (row-major in m) as coloured cells, row 0 at the
// bottom like a plot's y axis, cell (r, c) centred on (c, r); the course uses it for
// activation histograms over training steps and attention maps.
func Heatmap(title, xlabel, ylabel string, m []float64, rows, cols int) (image.Image, error) {
	if rows <= 0 || cols <= 0 || len(m) != rows*cols {
		return nil, fmt.Errorf("show.Heatmap %q: %d values for %dx%d, want rows*cols > 0", title, len(m), rows, cols)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range m {
		if !finite(v) {
			return nil, fmt.Errorf("show.Heatmap %q: value %d is %g, want a finite number", title, i, v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == hi {
		hi = lo + 1 // a constant matrix still gets a colour
	}
	cmap := moreland.ExtendedBlackBody()
	cmap.SetMin(lo)
	cmap.SetMax(hi)
	// Cells are blown up by whole pixels here, so the smooth resampling when the plot
	// draws the picture only softens cell edges instead of blending neighbours.
	sx, sy := max(1, (heatPixels+cols-1)/cols), max(1, (heatPixels+rows-1)/rows)
	img := image.NewRGBA(image.Rect(0, 0, cols*sx, rows*sy))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			col, err := cmap.At(m[r*cols+c])
			if err != nil {
				return nil, fmt.Errorf("show.Heatmap %q: %w", title, err)
			}
			top := (rows - 1 - r) * sy // image rows go down, plot rows go up
			draw.Draw(img, image.Rect(c*sx, top, (c+1)*sx, top+sy), image.NewUniform(col), image.Point{}, draw.Src)
		}
	}
	p := NewPlot(title, xlabel, ylabel)
	p.Add(plotter.NewImage(img, -0.5, -0.5, float64(cols)-0.5, float64(rows)-0.5))
	return Render(p, FigWidth, FigHeight)
}

// heatPixels is about how many pixels a heat map's cells span along each side before
// the plot scales them to fit.
const heatPixels = 800

// Bars draws one bar per label, e.g. the share of samples in each class.
func Bars(title, xlabel, ylabel string, labels []string, values []float64) (image.Image, error) {
	if len(labels) != len(values) || len(values) == 0 {
		return nil, fmt.Errorf("show.Bars %q: %d labels for %d values, want the same number (> 0)", title, len(labels), len(values))
	}
	p := NewPlot(title, xlabel, ylabel)
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(18))
	if err != nil {
		return nil, fmt.Errorf("show.Bars %q: %w", title, err)
	}
	p.Add(bars)
	p.NominalX(labels...)
	p.Y.Min = 0
	for _, v := range values {
		p.Y.Max = max(p.Y.Max, v*1.05)
	}
	// Long labels slant so that ten of them fit under the bars.
	p.X.Tick.Label.Rotation, p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = 0.6, -0.9, -0.2
	return Render(p, FigWidth, FigHeight)
}
