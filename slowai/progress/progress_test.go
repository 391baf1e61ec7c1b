package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBarCountsAndFinishes(t *testing.T) {
	var buf bytes.Buffer
	b := NewTo(&buf, "train", 4)
	for i := 0; i < 4; i++ {
		b.Add(1)
	}
	b.SetSuffix("loss=%.2f", 0.5)
	b.Done()
	out := buf.String()
	last := out[strings.LastIndex(out, "\r")+1:]
	if !strings.HasPrefix(last, "train [##############################] 4/4 100%") {
		t.Errorf("final line = %q", last)
	}
	if !strings.Contains(last, "loss=0.50") || !strings.HasSuffix(out, "\n") {
		t.Errorf("missing suffix or newline: %q", last)
	}
}

func TestBarCountsBytesAsWriter(t *testing.T) {
	var buf bytes.Buffer
	b := NewTo(&buf, "dl", 10)
	b.Write(make([]byte, 6))
	b.Done()
	if !strings.Contains(buf.String(), "6/10  60%") {
		t.Errorf("got %q", buf.String())
	}
}
