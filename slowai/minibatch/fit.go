package minibatch

import (
	"github.com/slowai-go/course/slowai/backprop"
)

// SGDStep moves every parameter of model a step of lr against its gradient: p -= lr · dL/dp.
func SGDStep(model *backprop.MLP, lr float32) {
	for _, p := range model.Params() {
		for i, g := range p.Grad {
			p.Value[i] -= lr * g
		}
	}
}

// Evaluate returns the mean cross-entropy and accuracy of model over every batch of dl, each batch
// weighted by its size.
func Evaluate(model *backprop.MLP, dl DataLoader, classes int) (loss, acc float64) {
	ce := CrossEntropy{Classes: classes}
	n := 0
	for xb, yb := range dl.All() {
		logits := model.Forward(xb)
		loss += float64(ce.Forward(logits, yb)) * float64(len(yb))
		acc += Accuracy(logits, yb, classes) * float64(len(yb))
		n += len(yb)
	}
	return loss / float64(n), acc / float64(n)
}

// Epoch is what Fit measured in one pass over the training data.
type Epoch struct {
	TrainLoss           float64 // mean of the epoch's batch losses
	ValidLoss, ValidAcc float64
}

// Fit trains model by minibatch SGD: for each batch, forward, loss, backward, step. After every epoch
// it measures the loss and accuracy on valid. It returns every batch's loss and the epochs' summaries.
func Fit(model *backprop.MLP, lr float32, epochs int, train, valid DataLoader, classes int) ([]float64, []Epoch) {
	ce := CrossEntropy{Classes: classes}
	var batchLosses []float64
	var history []Epoch
	for range epochs {
		sum, nb := 0.0, 0
		for xb, yb := range train.All() {
			loss := ce.Forward(model.Forward(xb), yb)
			model.Backward(ce.Backward())
			SGDStep(model, lr)
			batchLosses = append(batchLosses, float64(loss))
			sum += float64(loss)
			nb++
		}
		vl, va := Evaluate(model, valid, classes)
		history = append(history, Epoch{TrainLoss: sum / float64(nb), ValidLoss: vl, ValidAcc: va})
	}
	return batchLosses, history
}
