package learn

import (
	"fmt"
	"image"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/show"
)

// HistBins and HistMax are the bins of ActivationStats' histograms: |activation| in [0, HistMax)
// cut into HistBins equal bins (values beyond HistMax count in the last bin).
const (
	HistBins = 40
	HistMax  = 10.0
)

// LayerStats are one tapped layer's statistics, one entry per training batch.
type LayerStats struct {
	Name        string
	Means, Stds []float64
	Hists       [][]float64 // HistBins counts of |activation| per batch
}

// NearZero is, per batch, the fraction of activations in the histogram's first two bins
// (|a| < 0.5): units that pass almost nothing on ("dead" ones, after a ReLU).
func (s LayerStats) NearZero() []float64 {
	out := make([]float64, len(s.Hists))
	for i, h := range s.Hists {
		total := 0.0
		for _, c := range h {
			total += c
		}
		if total > 0 {
			out[i] = (h[0] + h[1]) / total
		}
	}
	return out
}

// ActivationStats records, for every layer the model taps (module.Sequential taps each layer),
// the mean, standard deviation and a histogram of |activation| of every training batch. The
// statistics are computed inside the training step, so only a few numbers per layer leave it.
// Only is an optional filter: a tap is kept when Only(name) is true.
type ActivationStats struct {
	Only   func(name string) bool
	Layers []LayerStats

	names []string
}

// GraphOutputs computes each kept tap's mean, std and histogram counts in the step's graph.
func (a *ActivationStats) GraphOutputs(l *Learner, taps *module.Taps) []*graph.Node {
	a.names = nil
	var outs []*graph.Node
	for i, x := range taps.Nodes {
		name := taps.Names[i]
		if a.Only != nil && !a.Only(name) {
			continue
		}
		a.names = append(a.names, name)
		x = graph.StopGradient(x)
		mean := graph.ReduceAllMean(x)
		std := graph.Sqrt(graph.ReduceAllMean(graph.Square(graph.Sub(x, mean))))
		// Bin k counts |x| in [k·w, (k+1)·w): the number below its upper edge minus the
		// number below its lower edge; the last bin also takes everything above HistMax.
		ax := graph.Abs(x)
		below := make([]*graph.Node, HistBins+1)
		for k := range below {
			edge := HistMax * float64(k) / HistBins
			if k == HistBins {
				below[k] = graph.Scalar(x.Graph(), dtypes.Float32, float64(x.Shape().Size()))
				continue
			}
			below[k] = graph.ReduceAllSum(graph.ConvertDType(graph.LessThan(ax, graph.Scalar(x.Graph(), ax.DType(), edge)), dtypes.Float32))
		}
		counts := graph.Sub(graph.Stack(below[1:], 0), graph.Stack(below[:HistBins], 0))
		outs = append(outs, graph.ConvertDType(mean, dtypes.Float32), graph.ConvertDType(std, dtypes.Float32), counts)
	}
	return outs
}

// ReceiveOutputs appends a batch's statistics.
func (a *ActivationStats) ReceiveOutputs(l *Learner, values []*tensors.Tensor) error {
	if len(values) != 3*len(a.names) {
		return fmt.Errorf("learn: ActivationStats got %d values for %d layers", len(values), len(a.names))
	}
	if a.Layers == nil {
		for _, n := range a.names {
			a.Layers = append(a.Layers, LayerStats{Name: n})
		}
	}
	for i := range a.Layers {
		mean := tensors.MustCopyFlatData[float32](values[3*i])[0]
		std := tensors.MustCopyFlatData[float32](values[3*i+1])[0]
		counts := tensors.MustCopyFlatData[float32](values[3*i+2])
		h := make([]float64, len(counts))
		for k, c := range counts {
			h[k] = float64(c)
		}
		a.Layers[i].Means = append(a.Layers[i].Means, float64(mean))
		a.Layers[i].Stds = append(a.Layers[i].Stds, float64(std))
		a.Layers[i].Hists = append(a.Layers[i].Hists, h)
	}
	for _, v := range values {
		v.FinalizeAll()
	}
	return nil
}

// PlotMeansStds draws every layer's activation mean and standard deviation over the batches.
func (a *ActivationStats) PlotMeansStds() (means, stds image.Image, err error) {
	var ms, ss []show.Series
	for _, s := range a.Layers {
		ms = append(ms, show.Series{Name: s.Name, Y: s.Means})
		ss = append(ss, show.Series{Name: s.Name, Y: s.Stds})
	}
	if means, err = show.Lines("Activation means by layer", "training batch", "mean", ms...); err != nil {
		return nil, nil, err
	}
	stds, err = show.Lines("Activation standard deviations by layer", "training batch", "std", ss...)
	return means, stds, err
}

// ColorDim draws a layer's histograms over training as an image: one column per batch, one row
// per bin of |activation| (small values at the bottom), colour the log of the count — the
// "colorful dimension" plot of fast.ai's lesson 08.
func (s LayerStats) ColorDim() (image.Image, error) {
	cols := len(s.Hists)
	if cols == 0 {
		return nil, fmt.Errorf("learn: layer %s has no statistics yet", s.Name)
	}
	m := make([]float64, HistBins*cols)
	for c, h := range s.Hists {
		for r, n := range h {
			m[r*cols+c] = math.Log1p(n)
		}
	}
	return show.Heatmap(fmt.Sprintf("%s: log(1+count) of |activation|", s.Name), "training batch",
		fmt.Sprintf("|activation| bin (0 to %g)", HistMax), m, HistBins, cols)
}
