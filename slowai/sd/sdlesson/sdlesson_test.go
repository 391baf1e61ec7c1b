package sdlesson

import (
	"testing"

	"github.com/slowai-go/course/slowai/sd/pipeline"
)

// The scene has its sun, sky and hills where the notebooks' prose says.
func TestScene(t *testing.T) {
	h, w := 64, 64
	im := Scene(h, w)
	if err := im.Check(); err != nil {
		t.Fatal(err)
	}
	at := func(y, x int) [3]float32 {
		n, i := h*w, y*w+x
		return [3]float32{im.Pix[i], im.Pix[n+i], im.Pix[2*n+i]}
	}
	if c := at(int(0.3*float64(h)), int(0.7*float64(w))); c != [3]float32{1, 0.85, 0.25} {
		t.Errorf("sun centre %v, want yellow", c)
	}
	if c := at(2, 2); c[2] != 0.95 || c[0] > 0.4 {
		t.Errorf("top-left sky %v, want blue", c)
	}
	if c := at(h-1, w/2); c[1] <= c[0] || c[1] <= c[2] {
		t.Errorf("bottom %v, want green hills", c)
	}
}

func TestGridImage(t *testing.T) {
	img, err := GridImage("t", 2, []pipeline.Image{Scene(8, 8), Scene(8, 8)}, []string{"a", "b"})
	if err != nil || img.Bounds().Dx() < 16 {
		t.Fatalf("grid: %v, %v", img, err)
	}
	if _, err := GridImage("t", 2, nil, nil); err == nil {
		t.Error("an empty grid was accepted")
	}
}

func TestBlueDistanceAndSpread(t *testing.T) {
	im := pipeline.NewImage(1, 2)
	im.Pix[4], im.Pix[5] = 0.9, 0.5 // blue channel
	if got := BlueDistance(im, 0.9); got < 0.2-1e-6 || got > 0.2+1e-6 {
		t.Errorf("BlueDistance = %v, want 0.2", got)
	}
	if got := Spread([]float32{1, 3, 1, 3}); got != 1 {
		t.Errorf("Spread = %v, want 1", got)
	}
}
