//go:build solutions

package lesson07

import (
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/learn"
)

func (e *EarlyStop) AfterEpoch(l *learn.Learner) error {
	if l.Training {
		return nil
	}
	m, ok := learn.Find[*learn.Metrics](l)
	if !ok {
		return nil
	}
	log, ok := m.Last(false)
	if !ok {
		return nil
	}
	if log.Loss < e.Best {
		e.Best, e.Bad = log.Loss, 0
		return nil
	}
	e.Bad++
	if e.Bad >= e.Patience {
		return learn.ErrCancelFit
	}
	return nil
}

func TopK(k int) learn.Metric {
	return func(preds *tensors.Tensor, b learn.Batch) (float64, int) {
		p := tensors.MustCopyFlatData[float32](preds)
		y := tensors.MustCopyFlatData[int32](b.Targets[0])
		classes := len(p) / len(y)
		right := 0
		for i, label := range y {
			row := p[i*classes : (i+1)*classes]
			higher := 0 // classes that score above the label's
			for _, s := range row {
				if s > row[label] {
					higher++
				}
			}
			if higher < k {
				right++
			}
		}
		return float64(right), len(y)
	}
}

func LRAt(lrs, losses []float64) float64 {
	best := 0
	for i := range losses {
		if losses[i] < losses[best] {
			best = i
		}
	}
	return lrs[best] / 10
}
