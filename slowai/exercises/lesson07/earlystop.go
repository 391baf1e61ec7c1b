package lesson07

import (
	"math"

	"github.com/slowai-go/course/slowai/learn"
)

// EarlyStop is a callback for learn.Learner that ends the fit once the validation loss has not
// improved for Patience epochs in a row. It reads the loss that a learn.Metrics callback logs,
// so the Learner must have one. Best and Bad are its state: the best validation loss so far
// and how many epochs since it last improved.
type EarlyStop struct {
	Patience int
	Best     float64
	Bad      int
}

// Order runs EarlyStop after learn.Metrics (order 0) has logged the epoch.
func (e *EarlyStop) Order() int { return 10 }

// BeforeFit starts counting afresh.
func (e *EarlyStop) BeforeFit(l *learn.Learner) error {
	e.Best, e.Bad = math.Inf(1), 0
	return nil
}
