package lesson02

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/tensor"
)

// separated returns three blobs of 50 points on a hexagonal pattern (radius at most 2.2)
// around centres 30 apart, and one far-away outlier: an easy, exact test set.
func separated() (x *tensor.Matrix, centres [][2]float32) {
	centres = [][2]float32{{-30, 0}, {0, 20}, {30, -10}}
	x = tensor.New(151, 2)
	for c, ctr := range centres {
		for i := 0; i < 50; i++ {
			r := float32(0.2 + 2*float64(i)/50)
			a := float64(i) * 2.39996 // golden angle: points spread evenly around the centre
			x.Set(c*50+i, 0, ctr[0]+r*float32(math.Cos(a)))
			x.Set(c*50+i, 1, ctr[1]+r*float32(math.Sin(a)))
		}
	}
	x.Set(150, 0, 100)
	x.Set(150, 1, 100)
	return x, centres
}

func TestKMeans(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson02/exercises.go: KMeans", func(t *testing.T) {
		x, centres := separated()
		x.Rows, x.Data = 150, x.Data[:300] // no outlier for k-means
		// Start with two centroids in blob 0 and one in blob 2: k-means must move one across.
		c, labels := KMeans(x, []int{0, 10, 120}, 10)
		if c.Rows != 3 || len(labels) != 150 {
			t.Fatalf("got %d centroids and %d labels, want 3 and 150", c.Rows, len(labels))
		}
		for b := 0; b < 3; b++ {
			l := labels[b*50]
			for i := b * 50; i < (b+1)*50; i++ {
				if labels[i] != l {
					t.Fatalf("blob %d is split: point %d has label %d, point %d has %d", b, b*50, l, i, labels[i])
				}
			}
			var mx, my float64
			for i := b * 50; i < (b+1)*50; i++ {
				mx, my = mx+float64(x.At(i, 0))/50, my+float64(x.At(i, 1))/50
			}
			if d := math.Hypot(float64(c.At(l, 0))-mx, float64(c.At(l, 1))-my); d > 1e-3 {
				t.Errorf("centroid of blob %d (near %v) is %.3f from the blob's mean", b, centres[b], d)
			}
		}
		if labels[0] == labels[50] || labels[50] == labels[100] || labels[0] == labels[100] {
			t.Errorf("two blobs share a label: %d %d %d", labels[0], labels[50], labels[100])
		}
	})
}

func TestDBSCAN(t *testing.T) {
	exercises.Check(t, "slowai/exercises/lesson02/exercises.go: DBSCAN", func(t *testing.T) {
		x, _ := separated()
		labels := DBSCAN(x, 2, 4)
		if len(labels) != 151 {
			t.Fatalf("%d labels for 151 points", len(labels))
		}
		for i, l := range labels[:150] {
			if want := i / 50; l != want {
				t.Fatalf("point %d (blob %d) labelled %d, want %d", i, i/50, l, want)
			}
		}
		if labels[150] != -1 {
			t.Errorf("the outlier is labelled %d, want -1 (noise)", labels[150])
		}
		// With a tiny eps nothing has enough neighbours: all noise.
		for i, l := range DBSCAN(x, 0.01, 2) {
			if l != -1 {
				t.Fatalf("eps 0.01: point %d labelled %d, want -1", i, l)
			}
		}
	})
}
