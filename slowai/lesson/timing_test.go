package lesson

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fastest warms up once, runs reps more times and keeps the shortest of those runs: here the
// warm-up and all but one timed run sleep 30 ms, one timed run does not sleep at all.
func TestFastestKeepsTheShortestTimedRun(t *testing.T) {
	calls := 0
	got := Fastest(4, func() {
		calls++
		if calls != 3 {
			time.Sleep(30 * time.Millisecond)
		}
	})
	if calls != 5 {
		t.Errorf("f ran %d times, want 1 warm-up + 4", calls)
	}
	if got >= 30*time.Millisecond {
		t.Errorf("Fastest = %v: the run that did not sleep should win", got)
	}
	warm := 0
	if d := Fastest(2, func() {
		warm++
		if warm == 1 {
			time.Sleep(30 * time.Millisecond)
		}
	}); d >= 30*time.Millisecond {
		t.Errorf("Fastest = %v: the slow warm-up must not be timed", d)
	}
}

func TestTimingTable(t *testing.T) {
	var seen []string
	slow := Contender[int]{Name: "slow", Run: func(ms int) {
		seen = append(seen, "slow")
		time.Sleep(time.Duration(4*ms) * time.Millisecond)
	}}
	fast := Contender[int]{Name: "fast", Run: func(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }}
	rows := TimingTable(1, []int{1, 20}, []Contender[int]{slow, fast})
	if len(rows) != 2 || len(rows[0]) != 4 || rows[0][0] != "slow" || rows[1][0] != "fast" {
		t.Fatalf("rows %q: want one row per contender: name, two times, speed-up", rows)
	}
	if len(seen) != 4 {
		t.Errorf("slow ran %d times, want 2 per input (warm-up + 1)", len(seen))
	}
	if rows[0][3] != "1.00×" {
		t.Errorf("the first contender's speed-up over itself is %q, want 1.00×", rows[0][3])
	}
	// 80 ms against 20 ms, give or take the scheduler's oversleeping.
	if x, err := strconv.ParseFloat(strings.TrimSuffix(rows[1][3], "×"), 64); err != nil || x < 2 || x > 8 {
		t.Errorf("fast's speed-up is %q, want about 4×", rows[1][3])
	}
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]string{
		41200 * time.Nanosecond:  "0.0412 ms",
		3270 * time.Microsecond:  "3.27 ms",
		12345 * time.Microsecond: "12.3 ms",
		1234 * time.Millisecond:  "1234 ms",
	} {
		if got := Millis(d); got != want {
			t.Errorf("Millis(%v) = %q, want %q", d, got, want)
		}
	}
}
