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
