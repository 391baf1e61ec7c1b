package ascent

import (
	"encoding/gob"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/safefile"
)

// Snapshot is a classifier as plain values: its sizes and flat weights. It is what Save writes
// (gob) and what a notebook keeps from one cell for the next with lesson.Keep (each cell is a new
// process, and a classifier's weights live on its backend).
type Snapshot struct {
	H, W, NumClasses, Hidden int
	Weights                  [][]float32
}

// Snapshot copies the classifier's sizes and weights off the backend.
func (c *Classifier) Snapshot() (Snapshot, error) {
	w, err := c.Weights()
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{c.H, c.W, c.NumClasses, c.Hidden, w}, nil
}

// Classifier rebuilds the classifier on be.
func (s Snapshot) Classifier(be compute.Backend) (*Classifier, error) {
	c, err := NewClassifier(be, s.H, s.W, s.NumClasses, s.Hidden, 0)
	if err != nil {
		return nil, err
	}
	if err := c.SetWeights(s.Weights); err != nil {
		return nil, err
	}
	return c, nil
}

// Save writes the classifier to path (gob), through a temporary file and a rename.
func (c *Classifier) Save(path string) error {
	snap, err := c.Snapshot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ascent.Save %s: %w", path, err)
	}
	f, err := safefile.Create(path)
	if err != nil {
		return fmt.Errorf("ascent.Save %s: %w", path, err)
	}
	defer f.Abort()
	err = gob.NewEncoder(f).Encode(snap)
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		return fmt.Errorf("ascent.Save %s: %w", path, err)
	}
	return nil
}

// Load reads a classifier written by Save.
func Load(be compute.Backend, path string) (*Classifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ascent.Load: %w (train one and Save it first)", err)
	}
	defer f.Close()
	var s Snapshot
	if err := gob.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("ascent.Load %s: not a saved classifier: %w", path, err)
	}
	c, err := s.Classifier(be)
	if err != nil {
		return nil, fmt.Errorf("ascent.Load %s: %w", path, err)
	}
	return c, nil
}

// AddNoise returns img + sigma·ε with ε ~ N(0, I) drawn from seed: the image moved a random
// distance of about sigma·√(H·W) through pixel space. Values are not clipped.
func AddNoise(img []float32, sigma float64, seed int64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([]float32, len(img))
	for i, v := range img {
		out[i] = v + float32(sigma*rng.NormFloat64())
	}
	return out
}
