package ascent

import "testing"

func TestClimbFigures(t *testing.T) {
	frame := make([]float32, 28*28)
	res := []*AscentResult{
		{Class: 3, Frames: [][]float32{frame, frame}, FrameSteps: []int{0, 10}, Probs: []float64{0.1, 0.5, 0.9}},
		{Class: 7, Frames: [][]float32{frame, frame}, FrameSteps: []int{0, 10}, Probs: []float64{0.2, 0.6, 0.95}},
	}
	frames, curves, err := ClimbFigures(res, "t")
	if err != nil {
		t.Fatal(err)
	}
	if frames.Bounds().Dx() < 2*28 || frames.Bounds().Dy() < 2*28 || curves.Bounds().Dx() == 0 {
		t.Errorf("figure sizes %v, %v", frames.Bounds(), curves.Bounds())
	}
	if _, _, err := ClimbFigures(nil, "t"); err == nil {
		t.Error("no climbs accepted")
	}
}
