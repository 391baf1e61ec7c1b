package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// printMemory writes the process's resident memory now and its peak so far, read from
// /proc/self/status (Linux only; elsewhere it says so).
func printMemory(when string) {
	now, peak, err := residentMemory()
	if err != nil {
		fmt.Fprintf(os.Stderr, "memory %s: %v\n", when, err)
		return
	}
	fmt.Fprintf(os.Stderr, "memory %s: resident %.2f GB, peak %.2f GB\n", when, float64(now)/1e9, float64(peak)/1e9)
}

// residentMemory returns VmRSS and VmHWM in bytes.
func residentMemory() (now, peak int64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("cannot read /proc/self/status (not Linux?): %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(val) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/self/status: unexpected %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/self/status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			now = kb * 1024
		} else {
			peak = kb * 1024
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if peak == 0 {
		return 0, 0, fmt.Errorf("/proc/self/status has no VmHWM line")
	}
	return now, peak, nil
}

// Memory of a generation, measured on the ONNX Runtime engine at 512×512 (README, "Memory"):
// about 7 GB in all, of which 4.3 GB are SD v1's float32 weights (held once whatever the size)
// and the rest, 2.7 GB, the working memory of one network at a time. The working memory is
// activations whose count grows with the number of pixels (attention runs in blocks of
// queries, so it too grows about linearly), hence the estimate for H×W:
//
//	weights + working × (H·W) / (512·512)
//
// which is refused when it exceeds the machine's total memory.
const (
	sdWeightBytes  = 4.3e9
	sdWorkingBytes = 2.7e9 // at 512×512
)

// estimateMemory returns the bytes a generation of h×w pixels needs, by the formula above.
func estimateMemory(h, w int) float64 {
	return sdWeightBytes + sdWorkingBytes*float64(h)*float64(w)/(512*512)
}

// memTotal reads MemTotal from /proc/meminfo (Linux); tests replace it.
var memTotal = func() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest) // "32780112 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb * 1024, nil
				}
			}
			return 0, fmt.Errorf("/proc/meminfo: unexpected line %q", line)
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no MemTotal line")
}

// checkMemory refuses a size whose estimated memory exceeds the machine's total memory. Where
// the total is unknown (not Linux) nothing is refused.
func checkMemory(sizeFlag string, h, w int) error {
	total, err := memTotal()
	if err != nil {
		return nil
	}
	need := estimateMemory(h, w)
	if need <= float64(total) {
		return nil
	}
	return fmt.Errorf("generate: -size %s (%d×%d) needs about %.0f GB of memory (4.3 GB of weights + 2.7 GB × %.1f, the working memory of 512×512 scaled by the pixel count), more than this machine's %.1f GB (MemTotal in /proc/meminfo); choose a smaller -size",
		sizeFlag, w, h, need/1e9, float64(h)*float64(w)/(512*512), float64(total)/1e9)
}
