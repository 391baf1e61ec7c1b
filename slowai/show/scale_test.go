package show

import (
	"math"
	"slices"
	"testing"
)

func TestToUnit(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name    string
		in, out []float32
	}{
		{"stretches", []float32{-2, 0, 2, 1}, []float32{0, 0.5, 1, 0.75}},
		{"shifts positive values", []float32{10, 12, 11}, []float32{0, 1, 0.5}},
		{"constant is black", []float32{3, 3}, []float32{0, 0}},
		{"empty", []float32{}, []float32{}},
		{"NaN ignored for the range", []float32{nan, 4, 8}, []float32{nan, 0, 1}},
	} {
		got := ToUnit(c.in)
		if !slices.EqualFunc(got, c.out, sameFloat) {
			t.Errorf("%s: ToUnit(%v) = %v, want %v", c.name, c.in, got, c.out)
		}
	}
}

func TestToSigned(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name    string
		in, out []float32
	}{
		{"largest negative is black", []float32{-4, 0, 2}, []float32{0, 0.5, 0.75}},
		{"largest positive is white", []float32{1, -0.5, 2}, []float32{0.75, 0.375, 1}},
		{"zeros are mid-grey", []float32{0, 0}, []float32{0.5, 0.5}},
		{"NaN ignored for the scale", []float32{nan, -1}, []float32{nan, 0}},
	} {
		got := ToSigned(c.in)
		if !slices.EqualFunc(got, c.out, sameFloat) {
			t.Errorf("%s: ToSigned(%v) = %v, want %v", c.name, c.in, got, c.out)
		}
	}
	in := []float32{-1, 3}
	ToSigned(in)
	ToUnit(in)
	if in[0] != -1 || in[1] != 3 {
		t.Errorf("the input was changed: %v", in)
	}
}

// sameFloat is equality to within rounding, with NaN equal to NaN.
func sameFloat(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Abs(float64(a-b)) < 1e-6
}
