package nn

import "math"

// Plain-Go reference implementations, written straight from PyTorch's definitions with loops.

// refConv2D: x [B,C,H,W], w [O,C/g,kh,kw], b [O] or nil; pads {{top,bottom},{left,right}}.
func refConv2D(x []float64, xd []int, w []float64, wd []int, b []float64, stride, dil [2]int, pads [2][2]int, groups int) ([]float64, []int) {
	B, C, H, W := xd[0], xd[1], xd[2], xd[3]
	O, Cg, kh, kw := wd[0], wd[1], wd[2], wd[3]
	oh := (H+pads[0][0]+pads[0][1]-dil[0]*(kh-1)-1)/stride[0] + 1
	ow := (W+pads[1][0]+pads[1][1]-dil[1]*(kw-1)-1)/stride[1] + 1
	out := make([]float64, B*O*oh*ow)
	og := O / groups
	for n := range B {
		for o := range O {
			g := o / og
			for i := range oh {
				for j := range ow {
					s := 0.0
					if b != nil {
						s = b[o]
					}
					for ci := range Cg {
						c := g*Cg + ci
						for u := range kh {
							for v := range kw {
								y := i*stride[0] - pads[0][0] + u*dil[0]
								xx := j*stride[1] - pads[1][0] + v*dil[1]
								if y < 0 || y >= H || xx < 0 || xx >= W {
									continue
								}
								s += x[((n*C+c)*H+y)*W+xx] * w[((o*Cg+ci)*kh+u)*kw+v]
							}
						}
					}
					out[((n*O+o)*oh+i)*ow+j] = s
				}
			}
		}
	}
	return out, []int{B, O, oh, ow}
}

// refNormGroups normalises consecutive chunks of length n (biased variance).
func refNormChunks(x []float64, n int, eps float64) []float64 {
	out := make([]float64, len(x))
	for s := 0; s < len(x); s += n {
		m, v := 0.0, 0.0
		for _, a := range x[s : s+n] {
			m += a
		}
		m /= float64(n)
		for _, a := range x[s : s+n] {
			v += (a - m) * (a - m)
		}
		v /= float64(n)
		for i := s; i < s+n; i++ {
			out[i] = (x[i] - m) / math.Sqrt(v+eps)
		}
	}
	return out
}

// refGroupNorm: x [B,C,S...] flattened with spatial size sp.
func refGroupNorm(x []float64, B, C, sp, groups int, gamma, beta []float64, eps float64) []float64 {
	out := refNormChunks(x, C/groups*sp, eps)
	for n := range B {
		for c := range C {
			for k := range sp {
				i := (n*C+c)*sp + k
				out[i] = out[i]*gamma[c] + beta[c]
			}
		}
	}
	return out
}

func refLayerNorm(x []float64, C int, gamma, beta []float64, eps float64) []float64 {
	out := refNormChunks(x, C, eps)
	for i := range out {
		out[i] = out[i]*gamma[i%C] + beta[i%C]
	}
	return out
}

// refPool: op "max" or "avg" (count_include_pad=True) on [B,C,H,W].
func refPool(x []float64, xd []int, op string, k, s, p int) ([]float64, []int) {
	B, C, H, W := xd[0], xd[1], xd[2], xd[3]
	oh, ow := (H+2*p-k)/s+1, (W+2*p-k)/s+1
	out := make([]float64, 0, B*C*oh*ow)
	for bc := range B * C {
		for i := range oh {
			for j := range ow {
				m, sum := math.Inf(-1), 0.0
				for u := range k {
					for v := range k {
						y, xx := i*s-p+u, j*s-p+v
						if y < 0 || y >= H || xx < 0 || xx >= W {
							continue
						}
						a := x[(bc*H+y)*W+xx]
						m = math.Max(m, a)
						sum += a
					}
				}
				if op == "max" {
					out = append(out, m)
				} else {
					out = append(out, sum/float64(k*k))
				}
			}
		}
	}
	return out, []int{B, C, oh, ow}
}

// refAttention: q [B,Tq,C], k,v [B,Tk,C]; mask(b,h,i,j) returns (allowed, additive).
func refAttention(q, k, v []float64, B, Tq, Tk, C, heads int, causal bool, mask func(b, h, i, j int) (bool, float64)) []float64 {
	D := C / heads
	out := make([]float64, B*Tq*C)
	for b := range B {
		for h := range heads {
			for i := range Tq {
				sc := make([]float64, Tk)
				mx := math.Inf(-1)
				for j := range Tk {
					s := 0.0
					for d := range D {
						s += q[(b*Tq+i)*C+h*D+d] * k[(b*Tk+j)*C+h*D+d]
					}
					s /= math.Sqrt(float64(D))
					ok, add := true, 0.0
					if mask != nil {
						ok, add = mask(b, h, i, j)
					}
					if causal && j > i {
						ok = false
					}
					if !ok {
						s = -1e9
					}
					sc[j] = s + add
					mx = math.Max(mx, sc[j])
				}
				z := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for d := range D {
					o := 0.0
					for j := range Tk {
						o += sc[j] / z * v[(b*Tk+j)*C+h*D+d]
					}
					out[(b*Tq+i)*C+h*D+d] = o
				}
			}
		}
	}
	return out
}
