// Package cluster is lesson 02: mean shift clustering on synthetic blobs, written three
// ways (loops, broadcasting over slowai/tensor, and a batched graph on the engine) so the
// lesson can time them against each other, plus the frames of its animation.
package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/slowai-go/course/slowai/tensor"
)

// Blobs draws k centroids uniformly in [-35, 35]² and n points around each from a normal
// distribution with variance 5 per coordinate, the data of the Python course's lesson. It
// returns the points (k·n × 2, blob after blob), the centroids (k × 2) and each point's blob.
func Blobs(seed uint64, k, n int) (points, centroids *tensor.Matrix, labels []int) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	centroids = tensor.New(k, 2)
	for i := range centroids.Data {
		centroids.Data[i] = float32(r.Float64()*70 - 35)
	}
	points = tensor.New(k*n, 2)
	labels = make([]int, k*n)
	sd := math.Sqrt(5)
	for c := 0; c < k; c++ {
		for i := 0; i < n; i++ {
			p := c*n + i
			labels[p] = c
			points.Set(p, 0, centroids.At(c, 0)+float32(r.NormFloat64()*sd))
			points.Set(p, 1, centroids.At(c, 1)+float32(r.NormFloat64()*sd))
		}
	}
	return points, centroids, labels
}

// Gaussian is the kernel: the normal density with standard deviation bw at distance d.
// Points within about one bandwidth pull hard, points three bandwidths away hardly at all.
func Gaussian(d, bw float32) float32 {
	return float32(math.Exp(-0.5*float64(d/bw)*float64(d/bw)) / (float64(bw) * math.Sqrt(2*math.Pi)))
}

// ShiftLoops is one mean shift step with loops: every point moves to the average of all
// points, each weighted by the kernel of its distance. All points move at once (the new
// positions are computed from the old ones), like the broadcast and engine versions.
func ShiftLoops(x *tensor.Matrix, bw float32) *tensor.Matrix {
	out := tensor.New(x.Rows, 2)
	for i := 0; i < x.Rows; i++ {
		xi, yi := x.At(i, 0), x.At(i, 1)
		var sx, sy, sw float32
		for j := 0; j < x.Rows; j++ {
			dx, dy := x.At(j, 0)-xi, x.At(j, 1)-yi
			w := Gaussian(float32(math.Sqrt(float64(dx*dx+dy*dy))), bw)
			sx += w * x.At(j, 0)
			sy += w * x.At(j, 1)
			sw += w
		}
		out.Set(i, 0, sx/sw)
		out.Set(i, 1, sy/sw)
	}
	return out
}

// ShiftBroadcast is the same step written as whole-array operations: for a batch of points
// xb (b×1×2) against all points X (1×n×2), broadcasting makes every difference (b×n×2) at
// once; squared distances, kernel weights, then a matrix product averages the points.
// Batching keeps the b×n×2 differences small enough for memory.
func ShiftBroadcast(x *tensor.Matrix, bw float32, batch int) (*tensor.Matrix, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("cluster.ShiftBroadcast: batch %d, want > 0", batch)
	}
	n := x.Rows
	all, err := x.Tensor().Reshape(1, n, 2)
	if err != nil {
		return nil, err
	}
	out := tensor.New(n, 2)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		xb, _ := tensor.NewTensor(x.Data[lo*2:hi*2], hi-lo, 1, 2)
		diff, err := tensor.Sub(xb, all) // (b,1,2) - (1,n,2) -> (b,n,2)
		if err != nil {
			return nil, err
		}
		d2, _ := tensor.Sum(tensor.Map(diff, func(v float32) float32 { return v * v }), 2) // (b,n)
		w := tensor.Map(d2, func(v float32) float32 { return Gaussian(float32(math.Sqrt(float64(v))), bw) })
		num := tensor.MatMulIKJ(&tensor.Matrix{Rows: hi - lo, Cols: n, Data: w.Data}, x) // (b,2)
		den, _ := tensor.Sum(w, 1)                                                       // (b)
		den.Shape = []int{hi - lo, 1}
		avg, err := tensor.Zip(num.Tensor(), den, func(s, w float32) float32 { return s / w }) // (b,2)/(b,1)
		if err != nil {
			return nil, err
		}
		copy(out.Data[lo*2:hi*2], avg.Data)
	}
	return out, nil
}
