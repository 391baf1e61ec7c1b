package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"
)

// Batch is one batch on the host, before it becomes tensors: the examples' pixels (after
// the loader's transforms), their labels and where in the dataset they came from.
type Batch struct {
	X          []float32 // N*C*H*W, NCHW
	N, C, H, W int
	Y          []int32 // N labels
	Index      []int   // N dataset indices, in batch order
}

// check reports a batch whose slices disagree with its sizes (a broken transform).
func (b *Batch) check() error {
	if b.N < 0 || b.C <= 0 || b.H <= 0 || b.W <= 0 || len(b.X) != b.N*b.C*b.H*b.W || len(b.Y) != b.N || len(b.Index) != b.N {
		return fmt.Errorf("batch N, C, H, W = %d, %d, %d, %d with len(X) = %d, len(Y) = %d, len(Index) = %d, want len(X) = N*C*H*W and len(Y) = len(Index) = N",
			b.N, b.C, b.H, b.W, len(b.X), len(b.Y), len(b.Index))
	}
	return nil
}

// Tensors copies the batch into a float32 tensor shaped [N, C, H, W] and an int32 tensor
// of labels shaped [N]. It panics if the batch's slices do not match its sizes.
func (b *Batch) Tensors() (x, y *tensors.Tensor) {
	if err := b.check(); err != nil {
		panic("data: Batch.Tensors: " + err.Error())
	}
	return tensors.FromFlatDataAndDimensions(b.X, b.N, b.C, b.H, b.W), tensors.FromFlatDataAndDimensions(b.Y, b.N)
}

// Transform changes a batch in place: it may rewrite X and change C, H and W (padding
// 28×28 to 32×32, say), but not the examples. A transform that draws random numbers must
// draw them from rng only, so a restored Loader repeats them, and must leave the batch
// unchanged when rng is nil: validation loaders pass nil to switch augmentation off while
// keeping deterministic transforms such as Pad and Normalize.
type Transform func(b *Batch, rng *rand.Rand) error

// LoaderOptions say how a Loader orders and transforms the examples.
type LoaderOptions struct {
	Shuffle    bool        // a new random order every epoch; else dataset order
	DropLast   bool        // skip the last batch of an epoch when it is short
	Seed       uint64      // fixes every epoch's order and every transform's random draws
	Transforms []Transform // applied in order to each batch
}

// Loader cuts a Dataset into batches, epoch after epoch. Its position is (epoch, offset):
// the order of epoch e is a permutation drawn from (Seed, e) alone, and the transforms draw
// from one generator seeded from Seed whose state State saves, so a Loader restored from
// a State continues with exactly the batches the original would have given. A Loader is
// not safe for concurrent use.
type Loader struct {
	ds      *Dataset
	bs      int
	opts    LoaderOptions
	augment bool // pass rng to the transforms (false in validation loaders: they get nil)

	epoch  int // current epoch, from 0
	offset int // examples of this epoch already delivered
	perm   []int
	permOf int // the epoch perm was drawn for

	pcg *rand.PCG // the transforms' generator; its state is part of LoaderState
	rng *rand.Rand

	c, h, w int // shape of a transformed image
}

// Streams of the two generators. The order's constant matches the one slowai/ddpm's own
// trainer used, so porting it to the Loader keeps its batches.
const (
	orderSeedMix    = 0x9e3779b97f4a7c15
	transformStream = 0x7472616e73666f72 // "transfor"
)

// NewLoader makes a Loader of batches of batchSize examples of ds. It runs the transforms
// once on the first example to catch bad arguments (Pad smaller than the image, a
// probability outside [0,1], ...) now rather than mid-training.
func NewLoader(ds *Dataset, batchSize int, o LoaderOptions) (*Loader, error) {
	return newLoader(ds, batchSize, o, true)
}

func newLoader(ds *Dataset, batchSize int, o LoaderOptions, augment bool) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("data.NewLoader: dataset is nil")
	}
	if ds.N <= 0 {
		return nil, fmt.Errorf("data.NewLoader: dataset %s is empty (N = %d)", ds.Name, ds.N)
	}
	if ds.C <= 0 || ds.H <= 0 || ds.W <= 0 || len(ds.Images) != ds.N*ds.C*ds.H*ds.W || len(ds.Labels) != ds.N {
		return nil, fmt.Errorf("data.NewLoader: dataset %s has N, C, H, W = %d, %d, %d, %d, len(Images) = %d, len(Labels) = %d; build it with NewDataset",
			ds.Name, ds.N, ds.C, ds.H, ds.W, len(ds.Images), len(ds.Labels))
	}
	if batchSize <= 0 {
		return nil, fmt.Errorf("data.NewLoader: batchSize = %d, want > 0", batchSize)
	}
	if o.DropLast && batchSize > ds.N {
		return nil, fmt.Errorf("data.NewLoader: batchSize = %d with DropLast leaves no batch of the %d examples of %s", batchSize, ds.N, ds.Name)
	}
	for i, t := range o.Transforms {
		if t == nil {
			return nil, fmt.Errorf("data.NewLoader: Transforms[%d] is nil", i)
		}
	}
	l := &Loader{ds: ds, bs: batchSize, opts: o, augment: augment, permOf: -1}
	l.opts.Transforms = slices.Clone(o.Transforms)
	l.pcg = rand.NewPCG(o.Seed, transformStream)
	l.rng = rand.New(l.pcg)

	// Dry run on example 0 with a throwaway generator, to check the transforms and learn
	// the shape they produce.
	var rng *rand.Rand
	if augment {
		rng = rand.New(rand.NewPCG(o.Seed, 0))
	}
	b, err := l.transform(l.gather([]int{0}), rng)
	if err != nil {
		return nil, err
	}
	l.c, l.h, l.w = b.C, b.H, b.W
	return l, nil
}

// gather copies the examples at idx into a fresh Batch.
func (l *Loader) gather(idx []int) *Batch {
	d := l.ds
	b := &Batch{X: make([]float32, len(idx)*d.C*d.H*d.W), N: len(idx), C: d.C, H: d.H, W: d.W, Y: make([]int32, len(idx)), Index: idx}
	d.gather(b.X, idx)
	for j, i := range idx {
		b.Y[j] = int32(d.Labels[i])
	}
	return b
}

// transform applies the transforms in order, checking the batch after each.
func (l *Loader) transform(b *Batch, rng *rand.Rand) (*Batch, error) {
	for i, t := range l.opts.Transforms {
		if err := t(b, rng); err != nil {
			return nil, fmt.Errorf("data.Loader(%s): Transforms[%d]: %w", l.ds.Name, i, err)
		}
		if err := b.check(); err != nil {
			return nil, fmt.Errorf("data.Loader(%s): Transforms[%d] left a broken %w", l.ds.Name, i, err)
		}
	}
	return b, nil
}

// order returns the example order of the current epoch (nil: dataset order).
func (l *Loader) order() []int {
	if !l.opts.Shuffle {
		return nil
	}
	if l.permOf != l.epoch {
		l.perm = rand.New(rand.NewPCG(l.opts.Seed^orderSeedMix, uint64(l.epoch))).Perm(l.ds.N)
		l.permOf = l.epoch
	}
	return l.perm
}

// Next returns the next batch of the current epoch, or false at the epoch's end; the call
// after that false starts the next epoch. Each batch is freshly allocated, so it may be
// kept. Next panics if a transform fails on data that passed NewLoader's check.
func (l *Loader) Next() (*Batch, bool) {
	n := min(l.bs, l.ds.N-l.offset)
	if n <= 0 || (l.opts.DropLast && n < l.bs) {
		l.epoch++
		l.offset = 0
		return nil, false
	}
	idx := make([]int, n)
	if order := l.order(); order != nil {
		copy(idx, order[l.offset:])
	} else {
		for j := range idx {
			idx[j] = l.offset + j
		}
	}
	l.offset += n
	var rng *rand.Rand
	if l.augment {
		rng = l.rng
	}
	b, err := l.transform(l.gather(idx), rng)
	if err != nil {
		panic(err)
	}
	return b, true
}

// Len is the number of batches in an epoch.
func (l *Loader) Len() int {
	if l.opts.DropLast {
		return l.ds.N / l.bs
	}
	return (l.ds.N + l.bs - 1) / l.bs
}

// Epoch is the current epoch, counted from 0.
func (l *Loader) Epoch() int { return l.epoch }

// BatchSize is the number of examples in a full batch.
func (l *Loader) BatchSize() int { return l.bs }

// Dataset is the data set the loader reads.
func (l *Loader) Dataset() *Dataset { return l.ds }

// Shape is the size of one image after the transforms: what the model receives.
func (l *Loader) Shape() (c, h, w int) { return l.c, l.h, l.w }

// LoaderState is where a Loader stands: it goes into checkpoints (as JSON) so training can
// resume with the very batches it would have seen. Offset counts the examples of epoch
// Epoch already delivered; RNG is the transforms' generator (rand.PCG's MarshalBinary).
type LoaderState struct {
	Epoch, Offset int
	RNG           []byte
}

// State returns the loader's position and generator state.
func (l *Loader) State() LoaderState {
	rng, err := l.pcg.MarshalBinary()
	if err != nil { // rand.PCG's MarshalBinary cannot fail
		panic(err)
	}
	return LoaderState{Epoch: l.epoch, Offset: l.offset, RNG: rng}
}

// Restore moves the loader to s, as saved by State of a loader over the same data with the
// same options. It checks s first and changes nothing if s is bad.
func (l *Loader) Restore(s LoaderState) error {
	if s.Epoch < 0 {
		return fmt.Errorf("data.Loader(%s).Restore: Epoch = %d, want >= 0", l.ds.Name, s.Epoch)
	}
	if s.Offset < 0 || s.Offset > l.ds.N {
		return fmt.Errorf("data.Loader(%s).Restore: Offset = %d, want in [0,%d] (examples in an epoch)", l.ds.Name, s.Offset, l.ds.N)
	}
	pcg := new(rand.PCG)
	if err := pcg.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("data.Loader(%s).Restore: RNG (%d bytes) is not a rand.PCG state: %w", l.ds.Name, len(s.RNG), err)
	}
	l.epoch, l.offset = s.Epoch, s.Offset
	*l.pcg = *pcg
	return nil
}

// Loaders are the two loaders of a training run.
type Loaders struct {
	Train *Loader // shuffled (if asked), augmented
	Valid *Loader // dataset order, no random transforms, keeps the last short batch
}

// NewLoaders makes the training loader of train with o, and the validation loader of valid:
// o's transforms with a nil generator (so Pad or Normalize still apply but random
// augmentations do not), no shuffle, every example. Pass Dataset.Subset of either for quick
// runs.
func NewLoaders(train, valid *Dataset, batchSize int, o LoaderOptions) (Loaders, error) {
	tl, err := NewLoader(train, batchSize, o)
	if err != nil {
		return Loaders{}, fmt.Errorf("training loader: %w", err)
	}
	vo := LoaderOptions{Seed: o.Seed, Transforms: o.Transforms}
	vl, err := newLoader(valid, batchSize, vo, false)
	if err != nil {
		return Loaders{}, fmt.Errorf("validation loader: %w", err)
	}
	if c, h, w := tl.Shape(); vl.c != c || vl.h != h || vl.w != w {
		return Loaders{}, fmt.Errorf("data.NewLoaders: training images become %dx%dx%d but validation images %dx%dx%d", c, h, w, vl.c, vl.h, vl.w)
	}
	return Loaders{Train: tl, Valid: vl}, nil
}

// FashionLoaders loads Fashion-MNIST: the training split through o, the test split as the
// validation loader (see NewLoaders).
func FashionLoaders(batchSize int, o LoaderOptions) (Loaders, error) {
	return splitLoaders(FashionMNIST, batchSize, o)
}

// MNISTLoaders is FashionLoaders for the handwritten digits.
func MNISTLoaders(batchSize int, o LoaderOptions) (Loaders, error) {
	return splitLoaders(MNIST, batchSize, o)
}

func splitLoaders(load func(string) (*Dataset, error), batchSize int, o LoaderOptions) (Loaders, error) {
	train, err := load("train")
	if err != nil {
		return Loaders{}, err
	}
	test, err := load("test")
	if err != nil {
		return Loaders{}, err
	}
	return NewLoaders(train, test, batchSize, o)
}
