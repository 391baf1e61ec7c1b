package cluster

import (
	"fmt"
	"image"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/slowai-go/course/slowai/show"
	"github.com/slowai-go/course/slowai/tensor"
)

// Frame draws the points coloured by their true blob over the centroids (if not nil) as
// black crosses, on axes fixed to [-lim, lim]² so that frames of an animation line up.
func Frame(x *tensor.Matrix, labels []int, centroids *tensor.Matrix, title string, lim float64) (image.Image, error) {
	if len(labels) != x.Rows || x.Cols != 2 {
		return nil, fmt.Errorf("cluster.Frame: %d×%d points with %d labels, want n×2 and n labels", x.Rows, x.Cols, len(labels))
	}
	p := show.NewPlot(title, "x", "y")
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -lim, lim, -lim, lim
	if centroids != nil {
		c := make(plotter.XYs, centroids.Rows)
		for i := range c {
			c[i] = plotter.XY{X: float64(centroids.At(i, 0)), Y: float64(centroids.At(i, 1))}
		}
		s, err := plotter.NewScatter(c)
		if err != nil {
			return nil, fmt.Errorf("cluster.Frame: %w", err)
		}
		s.Shape = draw.CrossGlyph{}
		s.Radius = vg.Points(5)
		p.Add(s)
		p.Legend.Add("true centroid", s)
		p.Legend.Top = true
	}
	groups := map[int]plotter.XYs{}
	for i, l := range labels {
		groups[l] = append(groups[l], plotter.XY{X: float64(x.At(i, 0)), Y: float64(x.At(i, 1))})
	}
	for l := 0; len(groups) > 0; l++ {
		xys, ok := groups[l]
		if !ok {
			continue
		}
		delete(groups, l)
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("cluster.Frame: %w", err)
		}
		s.Color = plotutil.Color(l)
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(1.5)
		p.Add(s)
	}
	return show.Render(p, 4.5*vg.Inch, 4.5*vg.Inch)
}
