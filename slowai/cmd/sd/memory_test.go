package main

import (
	"runtime"
	"testing"
)

func TestResidentMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	now, peak, err := residentMemory()
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is a few MB resident at least, and the peak can't be below the present.
	if now < 1<<20 || peak < now {
		t.Errorf("resident %d, peak %d bytes", now, peak)
	}
	block := make([]byte, 64<<20)
	for i := range block {
		block[i] = 1
	}
	_, peak2, err := residentMemory()
	if err != nil {
		t.Fatal(err)
	}
	if peak2 < peak+32<<20 {
		t.Errorf("peak went from %d to %d after touching 64 MiB", peak, peak2)
	}
	runtime.KeepAlive(block)
}
