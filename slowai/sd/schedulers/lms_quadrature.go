package schedulers

// Gauss–Kronrod 21-point rule on [-1, 1]: the abscissae (±x, and 0 last) and their weights. These
// are QUADPACK's published constants (qk21), which scipy's quad applies first and accepts when its
// error estimate is small enough, as it always is for LMS's polynomials of degree ≤ 3.
var (
	kronrodX = [11]float64{0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
		0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
		0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
		0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
		0.294392862701460198131126603103866, 0.148874338981631210884826001129720, 0}
	kronrodW = [11]float64{0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
		0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
		0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
		0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
		0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
		0.149445554002916905664936468389821}
)

// DiffusersCoefficient is Coefficient computed the way diffusers 0.25 computes it: scipy's quad
// (one 21-point Gauss–Kronrod pass) over the Lagrange basis polynomial evaluated in float32, as
// diffusers' torch arithmetic on its float32 σ's does. The result differs from the exact integral
// by float32 rounding (up to ~1.4e-7 for SD's schedule). Step uses the exact Coefficient; this one
// exists to show that the difference is diffusers' rounding and nothing else.
func (l *LMS) DiffusersCoefficient(order, i, j int) float64 {
	sg := l.sigmas
	basis := func(s float64) float64 {
		p := float32(1)
		for m := 0; m < order; m++ {
			if m != j {
				p *= (float32(s) - sg[i-m]) / (sg[i-j] - sg[i-m])
			}
		}
		return float64(p)
	}
	a, b := float64(sg[i]), float64(sg[i+1])
	c, h := (a+b)/2, (b-a)/2
	sum := kronrodW[10] * basis(c)
	// QUADPACK adds the Gauss abscissae (odd indices) first, then the Kronrod ones; the order
	// matters at the last bit.
	for _, k := range []int{1, 3, 5, 7, 9, 0, 2, 4, 6, 8} {
		d := h * kronrodX[k]
		sum += kronrodW[k] * (basis(c-d) + basis(c+d))
	}
	return sum * h
}
