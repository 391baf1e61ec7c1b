// Package shapes is a fixture for the //slowai:same check: a tiny library whose declarations the
// fixture notebooks copy, correctly or not.
package shapes

// Rect is an axis-aligned rectangle.
type Rect struct {
	W, H float64 // sides
}

// Area is the library's doc comment; the notebook's may say something else.
func Area(r Rect) float64 {
	// width times height
	return r.W * r.H
}

// Scale returns r with both sides multiplied by k.
func (r *Rect) Scale(k float64) Rect {
	return Rect{W: r.W * k, H: r.H * k}
}

// Total sums the areas, using the package's own names without a qualifier.
func Total(rs []Rect) float64 {
	var sum float64
	for _, r := range rs {
		sum += Area(r)
	}
	return sum
}
