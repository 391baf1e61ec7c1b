package minibatch

import (
	"fmt"
	"iter"
	"math/rand/v2"
)

// Dataset is n examples of Dim features each, X [n, Dim] row-major, with their class labels.
type Dataset struct {
	X   []float32
	Y   []int
	Dim int
}

// NewDataset checks that x holds one row of dim values per label.
func NewDataset(x []float32, y []int, dim int) (Dataset, error) {
	if dim <= 0 || len(x) != len(y)*dim {
		return Dataset{}, fmt.Errorf("minibatch.NewDataset: %d values for %d labels, want %d labels × %d features", len(x), len(y), len(y), dim)
	}
	return Dataset{X: x, Y: y, Dim: dim}, nil
}

// Len is the number of examples.
func (d Dataset) Len() int { return len(d.Y) }

// Item returns example i's features (a view, not a copy) and label.
func (d Dataset) Item(i int) ([]float32, int) {
	return d.X[i*d.Dim : (i+1)*d.Dim], d.Y[i]
}

// Sampler decides the order an epoch visits the examples in: 0, 1, ..., N-1, or with Shuffle a new
// random permutation every epoch, so that no two epochs present the same batches.
type Sampler struct {
	N       int
	Shuffle bool
	Rng     *rand.Rand // used when Shuffle is set
}

// Indices returns one epoch's order.
func (s Sampler) Indices() []int {
	idx := make([]int, s.N)
	for i := range idx {
		idx[i] = i
	}
	if s.Shuffle {
		s.Rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return idx
}

// Batches cuts idx into consecutive batches of size bs; the last one holds what is left.
func Batches(idx []int, bs int) [][]int {
	var out [][]int
	for i := 0; i < len(idx); i += bs {
		out = append(out, idx[i:min(i+bs, len(idx))])
	}
	return out
}

// Collate gathers the examples at idx into one batch: x [len(idx), Dim] and their labels.
func Collate(ds Dataset, idx []int) ([]float32, []int) {
	x := make([]float32, 0, len(idx)*ds.Dim)
	y := make([]int, 0, len(idx))
	for _, i := range idx {
		xi, yi := ds.Item(i)
		x = append(x, xi...)
		y = append(y, yi)
	}
	return x, y
}

// DataLoader hands out a dataset in batches, in the order its sampler picks.
type DataLoader struct {
	DS        Dataset
	Sampler   Sampler
	BatchSize int
}

// NewDataLoader makes a loader over ds; shuffle asks for a new order every epoch, drawn from rng.
func NewDataLoader(ds Dataset, bs int, shuffle bool, rng *rand.Rand) DataLoader {
	return DataLoader{DS: ds, Sampler: Sampler{N: ds.Len(), Shuffle: shuffle, Rng: rng}, BatchSize: bs}
}

// All yields one epoch of batches: for xb, yb := range dl.All() { ... }.
func (dl DataLoader) All() iter.Seq2[[]float32, []int] {
	return func(yield func([]float32, []int) bool) {
		for _, b := range Batches(dl.Sampler.Indices(), dl.BatchSize) {
			if !yield(Collate(dl.DS, b)) {
				return
			}
		}
	}
}
