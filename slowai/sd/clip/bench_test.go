package clip

import (
	"testing"

	"github.com/slowai-go/course/slowai/backend"
)

// BenchmarkSD1Encode is workload W5: SD v1's full-size text encoder (random weights) on 2
// prompts of 77 tokens. The backend comes from backend.New (SLOWAI_BACKEND picks one).
func BenchmarkSD1Encode(b *testing.B) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewRandom(SD1Config(), be, 1)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([][]int, 2)
	for i := range ids {
		ids[i] = make([]int, 77)
		for j := range ids[i] {
			ids[i][j] = (i*7919 + j*104729) % 49408
		}
	}
	if _, _, err := m.Encode(ids); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ReportMetric(float64(m.Specs.NumParams()), "params")
	for b.Loop() {
		if _, _, err := m.Encode(ids); err != nil {
			b.Fatal(err)
		}
	}
}
