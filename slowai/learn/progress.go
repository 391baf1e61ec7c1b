package learn

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/slowai-go/course/slowai/progress"
	"github.com/slowai-go/course/slowai/show"
)

// Progress shows a fit as it runs: a progress bar over each epoch's batches with the running
// loss, a row of results after each epoch (from the Metrics callback, when there is one) and,
// with Plot, the loss curves when the fit ends.
type Progress struct {
	Plot bool      // draw the training and validation losses after the fit
	Out  io.Writer // os.Stdout when nil

	bar         *progress.Bar
	rows        [][]string
	header      []string
	trainLosses []float64 // every training batch's loss, for the plot
	validX      []float64 // validation losses by step
	validY      []float64
	smooth      float64
}

// Order runs Progress after Metrics has logged the epoch.
func (p *Progress) Order() int { return 50 }

func (p *Progress) out() io.Writer {
	if p.Out == nil {
		return os.Stdout
	}
	return p.Out
}

func (p *Progress) BeforeFit(l *Learner) error {
	p.rows, p.header, p.trainLosses, p.validX, p.validY = nil, nil, nil, nil, nil
	return nil
}

func (p *Progress) BeforeEpoch(l *Learner) error {
	dl, phase := l.Data.Train, "train"
	if !l.Training {
		dl, phase = l.Data.Valid, "valid"
	}
	p.bar = progress.NewTo(p.out(), fmt.Sprintf("epoch %d %s", l.Epoch, phase), int64(dl.Len()))
	p.smooth = 0
	return nil
}

func (p *Progress) AfterBatch(l *Learner) error {
	if l.Training {
		p.trainLosses = append(p.trainLosses, l.LossValue)
		// A debiased moving average, so the bar's loss is readable on noisy batches.
		n := float64(len(p.trainLosses))
		p.smooth = 0.9*p.smooth + 0.1*l.LossValue
		p.bar.SetSuffix("loss %.4f", p.smooth/(1-math.Pow(0.9, n)))
	}
	p.bar.Add(1)
	return nil
}

func (p *Progress) CleanupEpoch(l *Learner) error {
	if p.bar != nil {
		p.bar.Done()
		p.bar = nil
	}
	m, ok := Find[*Metrics](l)
	if !ok {
		return nil
	}
	log, ok := m.Last(l.Training)
	if !ok || log.Epoch != l.Epoch {
		return nil
	}
	if !l.Training {
		p.validX = append(p.validX, float64(len(p.trainLosses)))
		p.validY = append(p.validY, log.Loss)
	}
	phase := "valid"
	if log.Train {
		phase = "train"
	}
	names := make([]string, 0, len(log.Metrics))
	for k := range log.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	if p.header == nil {
		p.header = append([]string{"epoch", "phase", "loss"}, append(names, "seconds")...)
		fmt.Fprintln(p.out(), strings.Join(p.header, "\t"))
	}
	row := []string{fmt.Sprint(log.Epoch), phase, fmt.Sprintf("%.4f", log.Loss)}
	for _, k := range names {
		row = append(row, fmt.Sprintf("%.4f", log.Metrics[k]))
	}
	row = append(row, fmt.Sprintf("%.1f", log.Seconds))
	p.rows = append(p.rows, row)
	fmt.Fprintln(p.out(), strings.Join(row, "\t"))
	return nil
}

func (p *Progress) AfterFit(l *Learner) error {
	if !show.InNotebook() {
		return nil
	}
	if p.header != nil {
		show.Table(p.header, p.rows)
	}
	if !p.Plot || len(p.trainLosses) == 0 {
		return nil
	}
	series := []show.Series{{Name: "train (each batch)", Y: p.trainLosses}}
	if len(p.validY) > 0 {
		series = append(series, show.Series{Name: "valid (each epoch)", X: p.validX, Y: p.validY})
	}
	img, err := show.Lines("Loss during training", "step", "loss", series...)
	if err != nil {
		return err
	}
	return show.Display(img)
}
