package clip

import (
	"testing"

	"github.com/slowai-go/course/slowai/sd/weights/weightstest"
)

// BenchmarkSD1Encode is workload W5: SD v1's full-size text encoder (random weights) on 2
// prompts of 77 tokens. The backend comes from backend.New (SLOWAI_BACKEND picks one).
func BenchmarkSD1Encode(b *testing.B) {
	m := weightstest.Random(b, SD1Config(), NewRandom)
	ids := make([][]int, 2)
	for i := range ids {
		ids[i] = make([]int, 77)
		for j := range ids[i] {
			ids[i][j] = (i*7919 + j*104729) % 49408
		}
	}
	b.ReportMetric(float64(m.Specs.NumParams()), "params")
	weightstest.Loop(b, func() error {
		_, _, err := m.Encode(ids)
		return err
	})
}
