package shapes

import . "math"

// Diagonal uses a dot-imported package: the notebook writes math.Sqrt for the same Sqrt.
func Diagonal(r Rect) float64 { return Sqrt(r.W*r.W + r.H*r.H) }
