// Package minibatch is lesson 04: a classifier's loss and metric on plain float32 slices (log-softmax
// with the logsumexp trick, negative log likelihood, cross-entropy, accuracy), and minibatch SGD
// training of lesson 03's hand-written MLP, with a from-scratch Dataset, Sampler and DataLoader.
//
// These are the teaching versions. Lesson 07 builds the course's Learner (slowai/learn) and uses the
// library's loader (slowai/data), which also resumes mid-epoch and runs on the engine.
package minibatch

import (
	"fmt"
	"math"
	"slices"
)

// LogSumExp returns log Σ_j exp(x[j]), computed as m + log Σ_j exp(x[j] - m) with m = max_j x[j]: the
// same number, but the largest term becomes exp(0) = 1, so no exp overflows and at least one term
// keeps the sum away from log(0).
func LogSumExp(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - m))
	}
	return m + float32(math.Log(s))
}

// LogSoftmax returns log(softmax(row)) = row - logsumexp(row) for each row of logits [n, c]. Each row
// is first shifted so that its largest entry is 0 (softmax does not change when a constant is added
// to a row): then logsumexp is between 0 and log c, and subtracting it loses no digits even when the
// logits are in the thousands.
func LogSoftmax(logits []float32, c int) []float32 {
	if c <= 0 || len(logits)%c != 0 {
		panic(fmt.Sprintf("minibatch.LogSoftmax: %d logits is not a whole number of rows of %d classes", len(logits), c))
	}
	out := make([]float32, len(logits))
	for i := 0; i < len(logits); i += c {
		row := out[i : i+c]
		m := slices.Max(logits[i : i+c])
		for j, v := range logits[i : i+c] {
			row[j] = v - m
		}
		lse := LogSumExp(row)
		for j := range row {
			row[j] -= lse
		}
	}
	return out
}

// NLL is the negative log likelihood -(1/n) Σ_i logp[i, labels[i]] of log-probabilities logp [n, c]:
// each example's log-probability of its right class, picked out by indexing.
func NLL(logp []float32, labels []int, c int) float32 {
	checkRows("NLL", len(logp), labels, c)
	var s float64
	for i, y := range labels {
		s -= float64(logp[i*c+y])
	}
	return float32(s / float64(len(labels)))
}

// checkRows panics unless values holds one row of c entries per label and every label is a class.
func checkRows(fn string, values int, labels []int, c int) {
	if values != len(labels)*c {
		panic(fmt.Sprintf("minibatch.%s: %d values for %d labels, want %d×%d", fn, values, len(labels), len(labels), c))
	}
	for i, y := range labels {
		if y < 0 || y >= c {
			panic(fmt.Sprintf("minibatch.%s: labels[%d] = %d, want a class in [0, %d)", fn, i, y, c))
		}
	}
}

// CrossEntropy is the classification loss NLL(LogSoftmax(logits)), with the backward pass that starts
// lesson 03's chain rule. Its gradient is simple: d loss / d logits[i, j] = (softmax[i, j] - [j == y_i]) / n,
// the predicted probability minus 1 for the right class, so training pushes the right class up and
// every other class down, each in proportion to how much probability it wrongly holds.
type CrossEntropy struct {
	Classes int
	logp    []float32
	labels  []int
}

// Forward remembers the log-probabilities and labels for Backward and returns the mean loss.
func (ce *CrossEntropy) Forward(logits []float32, labels []int) float32 {
	ce.logp = LogSoftmax(logits, ce.Classes)
	ce.labels = labels
	return NLL(ce.logp, labels, ce.Classes)
}

// Backward returns d loss / d logits, (softmax - one-hot) / n.
func (ce *CrossEntropy) Backward() []float32 {
	c, n := ce.Classes, len(ce.labels)
	g := make([]float32, len(ce.logp))
	for i, lp := range ce.logp {
		g[i] = float32(math.Exp(float64(lp))) / float32(n)
	}
	for i, y := range ce.labels {
		g[i*c+y] -= 1 / float32(n)
	}
	return g
}

// Accuracy is the fraction of rows of logits [n, c] whose largest entry is at the label.
func Accuracy(logits []float32, labels []int, c int) float64 {
	checkRows("Accuracy", len(logits), labels, c)
	right := 0
	for i, y := range labels {
		if argmax(logits[i*c:(i+1)*c]) == y {
			right++
		}
	}
	return float64(right) / float64(len(labels))
}

func argmax(x []float32) int {
	best := 0
	for j, v := range x {
		if v > x[best] {
			best = j
		}
	}
	return best
}
