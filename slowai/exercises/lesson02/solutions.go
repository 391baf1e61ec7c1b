//go:build solutions

package lesson02

import "github.com/slowai-go/course/slowai/tensor"

func dist2(x *tensor.Matrix, i int, c *tensor.Matrix, j int) float32 {
	dx, dy := x.At(i, 0)-c.At(j, 0), x.At(i, 1)-c.At(j, 1)
	return dx*dx + dy*dy
}

func KMeans(x *tensor.Matrix, init []int, iters int) (*tensor.Matrix, []int) {
	k := len(init)
	c := tensor.New(k, 2)
	for j, p := range init {
		copy(c.Row(j), x.Row(p))
	}
	labels := make([]int, x.Rows)
	for range iters {
		for i := range labels {
			best := 0
			for j := 1; j < k; j++ {
				if dist2(x, i, c, j) < dist2(x, i, c, best) {
					best = j
				}
			}
			labels[i] = best
		}
		sum := tensor.New(k, 2)
		count := make([]int, k)
		for i, l := range labels {
			sum.Data[2*l] += x.At(i, 0)
			sum.Data[2*l+1] += x.At(i, 1)
			count[l]++
		}
		for j := range k {
			if count[j] > 0 {
				c.Set(j, 0, sum.At(j, 0)/float32(count[j]))
				c.Set(j, 1, sum.At(j, 1)/float32(count[j]))
			}
		}
	}
	return c, labels
}

func DBSCAN(x *tensor.Matrix, eps float32, minPts int) []int {
	n := x.Rows
	neighbours := func(i int) []int {
		var out []int
		for j := 0; j < n; j++ {
			if dist2(x, i, x, j) <= eps*eps {
				out = append(out, j)
			}
		}
		return out
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = -2 // not visited
	}
	next := 0
	for i := 0; i < n; i++ {
		if labels[i] != -2 {
			continue
		}
		nb := neighbours(i)
		if len(nb) < minPts {
			labels[i] = -1 // noise, unless a core point claims it later
			continue
		}
		labels[i] = next
		queue := nb
		for len(queue) > 0 {
			j := queue[0]
			queue = queue[1:]
			if labels[j] == -1 {
				labels[j] = next // a border point
			}
			if labels[j] != -2 {
				continue
			}
			labels[j] = next
			if nbj := neighbours(j); len(nbj) >= minPts {
				queue = append(queue, nbj...)
			}
		}
		next++
	}
	return labels
}
