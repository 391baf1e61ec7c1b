package ascent

import (
	"fmt"
	"image"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"

	"github.com/slowai-go/course/slowai/show"
)

// ShowClimbs draws what lesson 00 looks at after every ascent: the frames of each climb (one row
// per target digit, one column per saved step) and p(target | x) after every step.
func ShowClimbs(res []*AscentResult, title string) error {
	frames, curves, err := ClimbFigures(res, title)
	if err != nil {
		return err
	}
	if err := show.Display(frames); err != nil {
		return err
	}
	return show.Display(curves)
}

// ClimbFigures draws ShowClimbs' two figures. The probability plot has a logarithmic step axis,
// since most of the climb happens in the first few steps.
func ClimbFigures(res []*AscentResult, title string) (frames, curves image.Image, err error) {
	if len(res) == 0 || len(res[0].Frames) == 0 {
		return nil, nil, fmt.Errorf("ascent.ClimbFigures: no climbs with frames to draw")
	}
	var imgs [][]float32
	var titles []string
	for _, r := range res {
		for i, f := range r.Frames {
			imgs = append(imgs, f)
			titles = append(titles, fmt.Sprintf("%d · step %d", r.Class, r.FrameSteps[i]))
		}
	}
	if frames, err = show.Grid(imgs, 28, 28, len(res[0].Frames), titles, title+" (rows: target digit; columns: steps)"); err != nil {
		return nil, nil, err
	}
	p := show.NewPlot(title+": p(target | x)", "ascent step + 1 (log scale)", "p(target digit | x)")
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	for i, r := range res {
		xys := make(plotter.XYs, len(r.Probs))
		for s, p := range r.Probs {
			xys[s] = plotter.XY{X: float64(s + 1), Y: p}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, nil, err
		}
		l.Color, l.Dashes = plotutil.Color(i), plotutil.Dashes(i)
		p.Add(l)
		p.Legend.Add(fmt.Sprint(r.Class), l)
	}
	p.Legend.Top, p.Legend.Left = false, false // bottom right: the curves end near the top
	p.Y.Min, p.Y.Max = 0, 1
	curves, err = show.Render(p, show.FigWidth, show.FigHeight)
	return frames, curves, err
}
