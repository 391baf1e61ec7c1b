package lesson06

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/autoenc"
	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
)

const file = "slowai/exercises/lesson06/exercises.go: "

func TestBottleneckSize(t *testing.T) {
	exercises.Check(t, file+"BottleneckSize", func(t *testing.T) {
		// The lesson's autoencoder: run its encoder half and count what comes out.
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		s := &module.Specs{}
		seq := autoenc.ConvAE(s)
		v := module.NewVarsOn("/ae", be)
		if err := module.Randomize(v, s, 1); err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(be, v.Store, func(_ *model.Scope, x *Node) *Node {
			for i, l := range seq.Layers {
				if seq.Names[i] == "up2" {
					break
				}
				x = l.Apply(v, x)
			}
			return x
		})
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 1024), 1, 1, 32, 32))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := BottleneckSize(32, 32, []int{1, 2, 4}), outs[0].Shape().Size(); got != want {
			t.Errorf("BottleneckSize(32, 32, 1-2-4) = %d, the lesson's encoder leaves %d numbers", got, want)
		}
		for _, c := range []struct {
			h, w  int
			chans []int
			want  int
		}{
			{28, 28, []int{1, 4, 8, 16, 16}, 16 * 2 * 2}, // lesson 05's CNN before its last layer
			{28, 28, []int{1, 8}, 8 * 14 * 14},
			{7, 5, []int{3, 6, 9}, 9 * 2 * 2},
			{64, 64, []int{3}, 3 * 64 * 64}, // no layers: nothing changes
		} {
			if got := BottleneckSize(c.h, c.w, c.chans); got != c.want {
				t.Errorf("BottleneckSize(%d, %d, %v) = %d, want %d", c.h, c.w, c.chans, got, c.want)
			}
		}
	})
}

func TestUpsampleNearest(t *testing.T) {
	exercises.Check(t, file+"UpsampleNearest", func(t *testing.T) {
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for _, c := range []struct{ h, w, f int }{{2, 2, 2}, {3, 5, 2}, {4, 3, 3}, {8, 8, 1}} {
			img := make([]float32, c.h*c.w)
			for i := range img {
				img[i] = float32(rng.NormFloat64())
			}
			exec, err := NewExec(be, func(x *Node) *Node { return nn.UpsampleNearest2D(x, c.f) })
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(img, 1, 1, c.h, c.w))
			exec.Finalize()
			if err != nil {
				t.Fatal(err)
			}
			want := tensors.MustCopyFlatData[float32](outs[0])
			got := UpsampleNearest(img, c.h, c.w, c.f)
			if len(got) != len(want) {
				t.Fatalf("%+v: %d values, want %d", c, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%+v: value %d = %g, nn.UpsampleNearest2D gives %g", c, i, got[i], want[i])
				}
			}
		}
	})
}

func TestMeanImageMSE(t *testing.T) {
	exercises.Check(t, file+"MeanImageMSE", func(t *testing.T) {
		// Training images 0 and 2 (mean 1) against test images of 1 and 3: errors 0 and 4.
		train := [][]float32{{0, 0}, {2, 2}}
		test := [][]float32{{1, 1}, {3, 3}}
		if got := MeanImageMSE(train, test); math.Abs(got-2) > 1e-9 {
			t.Errorf("MeanImageMSE = %g, want (0+0+4+4)/4 = 2", got)
		}
		// Tested on its own training images it is their pixel-wise variance.
		rng := rand.New(rand.NewPCG(2, 2))
		imgs := make([][]float32, 50)
		sum, sq := make([]float64, 3), make([]float64, 3)
		for i := range imgs {
			imgs[i] = []float32{float32(rng.Float64()), float32(2 * rng.NormFloat64()), 7}
			for j, v := range imgs[i] {
				sum[j] += float64(v)
				sq[j] += float64(v) * float64(v)
			}
		}
		want := 0.0
		for j := range sum {
			m := sum[j] / 50
			want += (sq[j]/50 - m*m) / 3
		}
		if got := MeanImageMSE(imgs, imgs); math.Abs(got-want) > 1e-5 {
			t.Errorf("MeanImageMSE of images against themselves = %g, want their mean pixel variance %g", got, want)
		}
	})
}
