package lesson

import (
	"fmt"
	"math"
	"time"
)

// Fastest runs f once to warm up (compiling, filling caches), then reps times, and returns
// the fastest run: the one least disturbed by whatever else the machine is doing.
func Fastest(reps int, f func()) time.Duration {
	f()
	best := time.Duration(math.MaxInt64)
	for range max(reps, 1) {
		t0 := time.Now()
		f()
		best = min(best, time.Since(t0))
	}
	return best
}

// Contender is one row of a timing table: a name and the work it does on one input.
type Contender[In any] struct {
	Name string
	Run  func(in In)
}

// TimingTable times every contender on every input with Fastest(reps, ·) and returns the
// rows of a table (for show.Table): the contender's name, its time on each input, and how
// many times faster than the first contender it is on the last input.
func TimingTable[In any](reps int, inputs []In, contenders []Contender[In]) [][]string {
	var rows [][]string
	var first time.Duration
	for _, c := range contenders {
		row := []string{c.Name}
		var last time.Duration
		for _, in := range inputs {
			last = Fastest(reps, func() { c.Run(in) })
			row = append(row, Millis(last))
		}
		if first == 0 {
			first = last
		}
		rows = append(rows, append(row, fmt.Sprintf("%.2f×", float64(first)/float64(max(last, 1)))))
	}
	return rows
}

// Millis writes a duration in milliseconds with three significant digits or more
// ("0.0412 ms", "3.27 ms", "1234 ms"), so short and long timings read alike in a table.
func Millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.3g ms", ms)
	}
}
