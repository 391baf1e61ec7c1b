package data

import "testing"

func TestPadded(t *testing.T) {
	d := &Dataset{Name: "t", N: 1, H: 2, W: 2, Images: []float32{0, 1, 0.5, 0.25}, Labels: []int{0}}
	got := d.Padded(0, 4)
	want := []float32{
		-1, -1, -1, -1,
		-1, -1, 1, -1,
		-1, 0, -0.5, -1,
		-1, -1, -1, -1,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Padded = %v, want %v", got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a canvas smaller than the image was accepted")
		}
	}()
	d.Padded(0, 1)
}
