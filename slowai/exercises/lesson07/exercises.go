//go:build !solutions

// Package lesson07 holds the exercises of lesson 07 (notebooks/07_learner.ipynb): write each
// function's body in place of exercises.Todo(), then run
//
//	go test ./slowai/exercises/lesson07
package lesson07

import (
	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/learn"
)

// AfterEpoch is where EarlyStop decides. After a validation half (l.Training is false), take
// the epoch's mean validation loss from the Learner's learn.Metrics callback
// (learn.Find[*learn.Metrics](l), then its Last(false)); if it beats e.Best, remember it and
// reset e.Bad, otherwise count one more bad epoch, and return learn.ErrCancelFit once e.Bad
// reaches e.Patience. After a training half, do nothing.
func (e *EarlyStop) AfterEpoch(l *learn.Learner) error {
	exercises.Todo()
	return nil
}

// TopK returns a metric (see learn.Metric and learn.Accuracy): the number of examples whose
// label (the batch's first target, int32 [B]) is among the k highest scores of its row of
// preds (float32 [B, K]), and the number of examples. A label that ties with other classes
// counts as ranked above them. On scores without ties TopK(1) is learn.Accuracy.
func TopK(k int) learn.Metric {
	exercises.Todo()
	return nil
}

// LRAt is the learning rate the LR finder's curve suggests: a tenth of the rate at which the
// loss was lowest. lrs and losses are the finder's records, of equal length.
func LRAt(lrs, losses []float64) float64 {
	exercises.Todo()
	return 0
}
