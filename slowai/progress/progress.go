// Package progress draws text progress bars for long loops (downloads, training, sampling).
//
// A bar redraws on one line with a carriage return, at most a few times a second, so it
// reads well in a terminal, in a GoNB cell and in a rendered HTML page alike.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar counts work done out of a known total.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int64
	done     int64
	start    time.Time
	lastDraw time.Time
	suffix   string
	finished bool
}

// New starts a bar on standard output.
func New(label string, total int64) *Bar {
	return NewTo(os.Stdout, label, total)
}

// NewTo starts a bar writing to w.
func NewTo(w io.Writer, label string, total int64) *Bar {
	b := &Bar{w: w, label: label, total: total, start: time.Now()}
	b.draw(true)
	return b
}

// Add records n more units done.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.draw(false)
}

// SetSuffix sets a short note shown after the counts, e.g. the current loss.
func (b *Bar) SetSuffix(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.suffix = fmt.Sprintf(format, args...)
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	b.draw(true)
	fmt.Fprintln(b.w)
}

// Write lets a Bar count bytes passing through an io.Copy.
func (b *Bar) Write(p []byte) (int, error) {
	b.Add(int64(len(p)))
	return len(p), nil
}

func (b *Bar) draw(force bool) {
	now := time.Now()
	// Throttle redraws; an unknown total (0) never counts as finished.
	if !force && now.Sub(b.lastDraw) < 250*time.Millisecond && (b.total <= 0 || b.done < b.total) {
		return
	}
	b.lastDraw = now
	const width = 30
	frac := 0.0
	if b.total > 0 {
		frac = float64(b.done) / float64(b.total)
		if frac > 1 {
			frac = 1
		}
	}
	filled := int(frac * width)
	elapsed := now.Sub(b.start).Round(time.Second)
	line := fmt.Sprintf("\r%s [%s%s] %d/%d %3.0f%% %v", b.label,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		b.done, b.total, 100*frac, elapsed)
	if b.suffix != "" {
		line += " " + b.suffix
	}
	fmt.Fprint(b.w, line)
}
