package rng

import (
	"runtime"
	"sync"
)

// DrawShared lets workers goroutines take n numbers each from one generator seeded with
// seed, behind a mutex, and returns what each worker got. runtime.Gosched between draws
// stands in for real work, so the scheduler interleaves the workers differently from run to
// run: the numbers drawn are always the same ones, who gets which is not.
func DrawShared(seed uint64, workers, n int) [][]float64 {
	g, mu := New(seed), sync.Mutex{}
	got := make([][]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range n {
				mu.Lock()
				got[w] = append(got[w], g.Float64())
				mu.Unlock()
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	return got
}

// DrawOwn gives each of workers goroutines its own generator, seeded from seed and the
// worker's number, and returns the n numbers each drew: the same on every run.
func DrawOwn(seed uint64, workers, n int) [][]float64 {
	got := make([][]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			g := New(seed*1000 + uint64(w))
			for range n {
				got[w] = append(got[w], g.Float64())
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	return got
}
