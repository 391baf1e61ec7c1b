package nn

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// AdamMoments returns Adam's running averages of a parameter's gradient and squared gradient after one
// more step: m' = β1·m + (1-β1)·g and v' = β2·v + (1-β2)·g².
func AdamMoments(m, v, grad *Node, beta1, beta2 float64) (*Node, *Node) {
	return Add(MulScalar(m, beta1), MulScalar(grad, 1-beta1)), Add(MulScalar(v, beta2), MulScalar(Square(grad), 1-beta2))
}

// AdamUpdate returns p - lr·m/(√v + eps), Adam's step with its bias correction folded into lr by
// AdamLR on the host.
func AdamUpdate(p, m, v, lr *Node, eps float64) *Node {
	return Sub(p, Mul(lr, Div(m, AddScalar(Sqrt(v), eps))))
}

// AdamLR is the learning rate for Adam's step t (from 1) with the bias corrections of both moments
// folded in: lr·√(1-β2^t)/(1-β1^t).
func AdamLR(lr, beta1, beta2 float64, t int) float64 {
	return lr * math.Sqrt(1-math.Pow(beta2, float64(t))) / (1 - math.Pow(beta1, float64(t)))
}
