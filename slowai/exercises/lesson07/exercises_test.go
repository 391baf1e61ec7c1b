package lesson07

import (
	"errors"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/learn"
)

const file = "slowai/exercises/lesson07/exercises.go: "

// runEarlyStop feeds EarlyStop one epoch per validation loss (each after a training half with
// a worse loss, which it must ignore) and returns the epoch it cancelled at, or -1.
func runEarlyStop(t *testing.T, patience int, losses []float64) int {
	m := &learn.Metrics{}
	l := &learn.Learner{Callbacks: []learn.Callback{m}}
	e := &EarlyStop{Patience: patience}
	if err := e.BeforeFit(l); err != nil {
		t.Fatal(err)
	}
	for epoch, loss := range losses {
		l.Epoch = epoch
		for _, training := range []bool{true, false} {
			l.Training = training
			logged := loss
			if training {
				logged = 100 + float64(epoch) // training losses must not count
			}
			m.Logs = append(m.Logs, learn.EpochLog{Epoch: epoch, Train: training, Loss: logged})
			err := e.AfterEpoch(l)
			if training && err != nil {
				t.Fatalf("epoch %d: AfterEpoch after a training half returned %v, want nil", epoch, err)
			}
			if !training && err != nil {
				if !errors.Is(err, learn.ErrCancelFit) {
					t.Fatalf("epoch %d: AfterEpoch returned %v, want nil or learn.ErrCancelFit", epoch, err)
				}
				return epoch
			}
		}
	}
	return -1
}

func TestEarlyStop(t *testing.T) {
	exercises.Check(t, file+"EarlyStop.AfterEpoch", func(t *testing.T) {
		cases := []struct {
			patience int
			losses   []float64
			want     int // epoch of the cancel, -1 for none
		}{
			{2, []float64{1.0, 0.8, 0.9, 0.85, 0.7}, 3},
			{2, []float64{1.0, 1.1, 0.9, 1.0, 0.8, 0.85}, -1}, // each improvement resets the count
			{1, []float64{1.0, 0.9, 0.9}, 2},                  // equal is not better
			{3, []float64{0.5, 0.6, 0.7, 0.8, 0.4}, 3},
		}
		for _, c := range cases {
			if got := runEarlyStop(t, c.patience, c.losses); got != c.want {
				t.Errorf("Patience %d, validation losses %v: cancelled at epoch %d, want %d (-1: never)", c.patience, c.losses, got, c.want)
			}
		}
	})
}

func TestTopK(t *testing.T) {
	exercises.Check(t, file+"TopK", func(t *testing.T) {
		preds := tensors.FromFlatDataAndDimensions([]float32{
			0.1, 0.7, 0.2, // label 1: top-1
			0.5, 0.3, 0.2, // label 1: second
			0.1, 0.3, 0.6, // label 0: third
			0.9, 0.05, 0.05, // label 2: tied with class 1 for second, which counts as second
		}, 4, 3)
		b := learn.Batch{Targets: []*tensors.Tensor{tensors.FromFlatDataAndDimensions([]int32{1, 1, 0, 2}, 4)}}
		for k, want := range map[int]float64{1: 1, 2: 3, 3: 4} {
			got, n := TopK(k)(preds, b)
			if got != want || n != 4 {
				t.Errorf("TopK(%d) = %v of %d, want %v of 4", k, got, n, want)
			}
		}
		// Random scores (no ties): TopK(1) agrees with learn.Accuracy, and TopK(k) with sorting.
		rng := rand.New(rand.NewPCG(7, 7))
		const rows, classes = 200, 10
		p := make([]float32, rows*classes)
		y := make([]int32, rows)
		for i := range p {
			p[i] = rng.Float32()
		}
		for i := range y {
			y[i] = int32(rng.IntN(classes))
		}
		pt := tensors.FromFlatDataAndDimensions(p, rows, classes)
		rb := learn.Batch{Targets: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, rows)}}
		acc, _ := learn.Accuracy(pt, rb)
		if got, _ := TopK(1)(pt, rb); got != acc {
			t.Errorf("TopK(1) = %v, learn.Accuracy = %v", got, acc)
		}
		for k := 1; k <= classes; k++ {
			want := 0.0
			for i := range y {
				row := append([]float32(nil), p[i*classes:(i+1)*classes]...)
				sort.Slice(row, func(a, b int) bool { return row[a] > row[b] })
				if p[i*classes+int(y[i])] >= row[k-1] {
					want++
				}
			}
			if got, _ := TopK(k)(pt, rb); got != want {
				t.Errorf("TopK(%d) on random scores = %v, want %v", k, got, want)
			}
		}
	})
}

func TestLRAt(t *testing.T) {
	exercises.Check(t, file+"LRAt", func(t *testing.T) {
		lrs := []float64{1e-3, 1e-2, 1e-1, 1, 10}
		losses := []float64{2.3, 2.2, 1.5, 1.9, 7}
		if got := LRAt(lrs, losses); got != 1e-2 {
			t.Errorf("LRAt(%v, %v) = %v, want 0.01 (a tenth of 0.1)", lrs, losses, got)
		}
		if got := LRAt([]float64{0.5}, []float64{3}); got != 0.05 {
			t.Errorf("LRAt of one record = %v, want 0.05", got)
		}
	})
}
