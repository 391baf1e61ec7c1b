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
	// Each letter steps each operand's offset by that operand's stride for its axis (summed if
	// a letter repeats within one operand, e.g. "ii" reads the diagonal).
	step := func(sub string, shape []int) map[byte]int {
		st, m := strides(shape), map[byte]int{}
		for i := 0; i < len(sub); i++ {
			m[sub[i]] += st[i]
		}
		return m
	}
	stA, stB, stO := step(subA, a.Shape), step(subB, b.Shape), step(outSub, outShape)
	out := &Tensor{Shape: outShape, Data: make([]float32, size(outShape))}
	if size(a.Shape) == 0 || size(b.Shape) == 0 {
		return out, nil
	}
	idx := make([]int, len(letters))
	ia, ib, io := 0, 0, 0
	for {
		out.Data[io] += a.Data[ia] * b.Data[ib]
		ax := len(letters) - 1
		for ; ax >= 0; ax-- {
			l := letters[ax]
			idx[ax]++
			ia, ib, io = ia+stA[l], ib+stB[l], io+stO[l]
			if idx[ax] < sizes[l] {
				break
			}
			ia, ib, io = ia-stA[l]*sizes[l], ib-stB[l]*sizes[l], io-stO[l]*sizes[l]
			idx[ax] = 0
		}
		if ax < 0 {
			return out, nil
		}
	}
}
