package tensor

import (
	"fmt"
	"strings"
)

// Einsum evaluates a two-operand Einstein summation such as "ik,kj->ij" (matrix product),
// "i,j->ij" (outer product) or "bik,bkj->bij" (batched product) with plain loops: every
// letter is a loop index; the letters after "->" index the output and every other letter is
// summed over. It visits every combination of every letter once, so it is as slow as the
// naive matmul, and exists to show that one rule covers all these products.
func Einsum(spec string, a, b *Tensor) (*Tensor, error) {
	lhs, outSub, ok := strings.Cut(strings.ReplaceAll(spec, " ", ""), "->")
	subA, subB, ok2 := strings.Cut(lhs, ",")
	if !ok || !ok2 || len(subA) != len(a.Shape) || len(subB) != len(b.Shape) {
		return nil, fmt.Errorf("tensor.Einsum %q: want \"<a>,<b>-><out>\" with one letter per axis (a has shape %v, b %v)", spec, a.Shape, b.Shape)
	}
	// Give every letter a size, checking that operands agree on it.
	var letters []byte
	sizes := map[byte]int{}
	for _, op := range []struct {
		sub   string
		shape []int
	}{{subA, a.Shape}, {subB, b.Shape}} {
		for i := 0; i < len(op.sub); i++ {
			l, d := op.sub[i], op.shape[i]
			if s, seen := sizes[l]; seen && s != d {
				return nil, fmt.Errorf("tensor.Einsum %q: letter %c is %d in one place and %d in another", spec, l, s, d)
			} else if !seen {
				sizes[l] = d
				letters = append(letters, l)
			}
		}
	}
	outShape := make([]int, len(outSub))
	for i := 0; i < len(outSub); i++ {
		d, seen := sizes[outSub[i]]
		if !seen || strings.IndexByte(outSub[:i], outSub[i]) >= 0 {
			return nil, fmt.Errorf("tensor.Einsum %q: output letter %c must appear once in the output and in an operand", spec, outSub[i])
		}
		outShape[i] = d
	}
	// Along letter ax, each operand's offset moves by its stride for that letter's axis (0 if
	// the operand lacks the letter; summed if it repeats one, so "ii" walks the diagonal).
	n := len(letters)
	dims, stA, stB, stO := make([]int, n), make([]int, n), make([]int, n), make([]int, n)
	for ax, l := range letters {
		dims[ax] = sizes[l]
		for _, op := range []struct {
			sub   string
			shape []int
			st    []int
		}{{subA, a.Shape, stA}, {subB, b.Shape, stB}, {outSub, outShape, stO}} {
			st := strides(op.shape)
			for i := 0; i < len(op.sub); i++ {
				if op.sub[i] == l {
					op.st[ax] += st[i]
				}
			}
		}
	}
	out := &Tensor{Shape: outShape, Data: make([]float32, size(outShape))}
	if size(a.Shape) == 0 || size(b.Shape) == 0 {
		return out, nil
	}
	// Count through every combination of letter values like an odometer, keeping the three
	// offsets in step, and accumulate one product per combination.
	idx := make([]int, n)
	ia, ib, io := 0, 0, 0
	for {
		out.Data[io] += a.Data[ia] * b.Data[ib]
		ax := n - 1
		for ; ax >= 0; ax-- {
			idx[ax]++
			ia, ib, io = ia+stA[ax], ib+stB[ax], io+stO[ax]
			if idx[ax] < dims[ax] {
				break
			}
			ia, ib, io = ia-stA[ax]*dims[ax], ib-stB[ax]*dims[ax], io-stO[ax]*dims[ax]
			idx[ax] = 0
		}
		if ax < 0 {
			return out, nil
		}
	}
}
