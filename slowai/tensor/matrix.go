// Package tensor is lesson 01's arrays from scratch: a Matrix over a flat []float32, matrix
// products written as loops (naive, reordered, parallel), NumPy-style broadcasting over an
// n-dimensional Tensor, and einsum by hand. The engine (GoMLX) does all of this faster; this
// package exists so a student can see what the engine computes.
package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Matrix is a Rows×Cols matrix stored row by row in one flat slice: element (i, j) is
// Data[i*Cols+j]. One allocation and contiguous rows are what make the loops below fast.
type Matrix struct {
	Rows, Cols int
	Data       []float32
}

// New returns a zero Rows×Cols matrix.
func New(rows, cols int) *Matrix {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("tensor.New(%d, %d): negative size", rows, cols))
	}
	return &Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// FromSlice wraps data (not copied) as a rows×cols matrix; it checks the length.
func FromSlice(rows, cols int, data []float32) (*Matrix, error) {
	if rows < 0 || cols < 0 || len(data) != rows*cols {
		return nil, fmt.Errorf("tensor.FromSlice: %d values cannot be a %d×%d matrix", len(data), rows, cols)
	}
	return &Matrix{Rows: rows, Cols: cols, Data: data}, nil
}

// Randn returns a rows×cols matrix of standard normal values drawn from r, like torch.randn.
func Randn(r *rand.Rand, rows, cols int) *Matrix {
	m := New(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(r.NormFloat64())
	}
	return m
}

// At returns element (i, j).
func (m *Matrix) At(i, j int) float32 { return m.Data[i*m.Cols+j] }

// Set stores v at (i, j).
func (m *Matrix) Set(i, j int, v float32) { m.Data[i*m.Cols+j] = v }

// Row returns row i as a view (no copy).
func (m *Matrix) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// Tensor views m as a 2-dimensional Tensor sharing its data.
func (m *Matrix) Tensor() *Tensor { return &Tensor{Shape: []int{m.Rows, m.Cols}, Data: m.Data} }

// MatMulNaive is the textbook product: for every output element (i, j), the dot product of
// row i of a with column j of b. The innermost loop walks b down a column, jumping b.Cols
// floats each step, which is what makes it slow.
func MatMulNaive(a, b *Matrix) *Matrix {
	if a.Cols != b.Rows {
		panic(fmt.Sprintf("tensor: cannot multiply %d×%d by %d×%d", a.Rows, a.Cols, b.Rows, b.Cols))
	}
	c := New(a.Rows, b.Cols)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < b.Cols; j++ {
			var sum float32
			for k := 0; k < a.Cols; k++ {
				sum += a.Data[i*a.Cols+k] * b.Data[k*b.Cols+j]
			}
			c.Data[i*c.Cols+j] = sum
		}
	}
	return c
}

// MatMulIKJ computes the same product with the loops reordered: for each a[i,k], add
// a[i,k]·(row k of b) to row i of c. Every inner loop now reads and writes consecutive
// floats, which the cache and the compiler like much better.
func MatMulIKJ(a, b *Matrix) *Matrix {
	if a.Cols != b.Rows {
		panic(fmt.Sprintf("tensor: cannot multiply %d×%d by %d×%d", a.Rows, a.Cols, b.Rows, b.Cols))
	}
	c := New(a.Rows, b.Cols)
	for i := 0; i < a.Rows; i++ {
		ci := c.Data[i*c.Cols : (i+1)*c.Cols]
		for k := 0; k < a.Cols; k++ {
			aik := a.Data[i*a.Cols+k]
			for j, bkj := range b.Data[k*b.Cols : (k+1)*b.Cols] {
				ci[j] += aik * bkj
			}
		}
	}
	return c
}

// MatMulParallel cuts a into as many slabs of rows as there are cores (GOMAXPROCS), and one
// goroutine per slab multiplies it by b with MatMulIKJ and copies its rows of the result
// into place. Slabs do not overlap, so no locks are needed.
func MatMulParallel(a, b *Matrix) *Matrix {
	if a.Cols != b.Rows {
		panic(fmt.Sprintf("tensor: cannot multiply %d×%d by %d×%d", a.Rows, a.Cols, b.Rows, b.Cols))
	}
	c := New(a.Rows, b.Cols)
	workers := min(runtime.GOMAXPROCS(0), a.Rows)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*a.Rows/workers, (w+1)*a.Rows/workers
		wg.Go(func() {
			slab := &Matrix{Rows: hi - lo, Cols: a.Cols, Data: a.Data[lo*a.Cols : hi*a.Cols]}
			copy(c.Data[lo*c.Cols:hi*c.Cols], MatMulIKJ(slab, b).Data)
		})
	}
	wg.Wait()
	return c
}
