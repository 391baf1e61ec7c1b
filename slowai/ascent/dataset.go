package ascent

import (
	"fmt"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/data"
)

// TrainClassifier trains a classifier on train and returns it with the loss of every step.
func TrainClassifier(be compute.Backend, train *data.Dataset, cfg TrainConfig) (*Classifier, []float64, error) {
	if train == nil || train.N == 0 {
		return nil, nil, fmt.Errorf("ascent.TrainClassifier: training set is empty")
	}
	if train.C != 1 {
		return nil, nil, fmt.Errorf("ascent.TrainClassifier: %s images have %d channels, want 1 (grey)", train.Name, train.C)
	}
	numClasses := len(train.Classes)
	if numClasses == 0 {
		numClasses = 10
	}
	return trainOn(be, train.Images, train.Labels, train.H, train.W, numClasses, cfg)
}

// Accuracy is the fraction of test images whose most probable class is their label.
func (c *Classifier) Accuracy(test *data.Dataset) (float64, error) {
	if test == nil || test.N == 0 {
		return 0, fmt.Errorf("ascent.Accuracy: test set is empty")
	}
	if test.C != 1 || test.H != c.H || test.W != c.W {
		return 0, fmt.Errorf("ascent.Accuracy: classifier takes %d×%d grey images, test set has %d×%d with %d channel(s)", c.H, c.W, test.H, test.W, test.C)
	}
	return c.accuracyOn(test.Images, test.Labels)
}
