package show

// Grid draws values in [0, 1] as grey levels. ToUnit and ToSigned turn any other array (a feature
// map, a kernel, a code) into such values, so it can be looked at as a picture.

// ToUnit rescales v linearly so that its lowest value is 0 (black) and its highest 1 (white).
// A constant v becomes all 0; NaNs are left as they are, so Grid still marks them.
func ToUnit(v []float32) []float32 {
	lo, hi, seen := float32(0), float32(0), false
	for _, x := range v {
		if x != x {
			continue
		}
		if !seen {
			lo, hi, seen = x, x, true
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = (x - lo) / max(hi-lo, 1e-6)
	}
	return out
}

// ToSigned shows the sign of v: 0 becomes 0.5 (mid-grey), the largest |value| 1 (white) when
// positive and 0 (black) when negative, everything else in proportion. All zeros stay mid-grey;
// NaNs are left as they are.
func ToSigned(v []float32) []float32 {
	m := float32(1e-6)
	for _, x := range v {
		if x == x {
			m = max(m, x, -x)
		}
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = 0.5 + x/(2*m)
	}
	return out
}
