// Copyright 2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package onnxbackend

import (
	"strconv"
	"strings"

	ort "github.com/gomlx/compute-onnx/internal/ort"
	"github.com/pkg/errors"
)

// sessionOptions are the ONNX Runtime session options given in the backend's config string; every
// session the backend creates (Compile, LoadModel) gets them. Unset fields keep ONNX Runtime's defaults.
//
// Config keys:
//
//   - intra_op_threads=N: threads that run one operator, the calling thread included (0: one per physical core).
//   - inter_op_threads=N: threads that run independent operators at once (parallel execution mode only).
//   - execution_mode=sequential|parallel.
//   - graph_optimization=disable|basic|extended|layout|all.
//   - spinning=0|1: whether idle pool threads spin waiting for work (both pools); shorthand for the two
//     session.*.allow_spinning entries.
//   - session.<key>=<value>: any string session config entry of onnxruntime_session_options_config_keys.h,
//     passed as is.
type sessionOptions struct {
	intraOpThreads, interOpThreads *int
	executionMode                  *ort.ExecutionMode
	graphOptimization              *ort.GraphOptimizationLevel
	entries                        [][2]string // in config order; a later entry with the same key wins.
}

var graphOptimizationLevels = map[string]ort.GraphOptimizationLevel{
	"disable":  ort.GraphOptimizationDisableAll,
	"basic":    ort.GraphOptimizationBasic,
	"extended": ort.GraphOptimizationExtended,
	"layout":   ort.GraphOptimizationLayout,
	"all":      ort.GraphOptimizationAll,
}

// parse takes one key=value of the config string; it returns false if key is not a session option.
func (so *sessionOptions) parse(key, val string) (bool, error) {
	lower := strings.ToLower(key)
	switch {
	case lower == "intra_op_threads" || lower == "inter_op_threads":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return true, errors.Errorf("invalid %s: %q, expected a number of threads >= 0", lower, val)
		}
		if lower == "intra_op_threads" {
			so.intraOpThreads = &n
		} else {
			so.interOpThreads = &n
		}
	case lower == "execution_mode":
		var mode ort.ExecutionMode
		switch strings.ToLower(val) {
		case "sequential":
			mode = ort.ExecutionSequential
		case "parallel":
			mode = ort.ExecutionParallel
		default:
			return true, errors.Errorf("invalid execution_mode: %q, expected \"sequential\" or \"parallel\"", val)
		}
		so.executionMode = &mode
	case lower == "graph_optimization":
		level, ok := graphOptimizationLevels[strings.ToLower(val)]
		if !ok {
			return true, errors.Errorf("invalid graph_optimization: %q, expected disable, basic, extended, layout or all", val)
		}
		so.graphOptimization = &level
	case lower == "spinning":
		if val != "0" && val != "1" {
			return true, errors.Errorf("invalid spinning: %q, expected 0 or 1", val)
		}
		so.entries = append(so.entries,
			[2]string{"session.intra_op.allow_spinning", val},
			[2]string{"session.inter_op.allow_spinning", val})
	case strings.HasPrefix(lower, "session."):
		so.entries = append(so.entries, [2]string{key, val})
	default:
		return false, nil
	}
	return true, nil
}

// apply sets the options on a session's options.
func (so *sessionOptions) apply(options *ort.SessionOptions) error {
	if so.intraOpThreads != nil {
		if err := options.SetIntraOpNumThreads(*so.intraOpThreads); err != nil {
			return errors.Wrap(err, "failed to set ONNX Runtime intra-op threads")
		}
	}
	if so.interOpThreads != nil {
		if err := options.SetInterOpNumThreads(*so.interOpThreads); err != nil {
			return errors.Wrap(err, "failed to set ONNX Runtime inter-op threads")
		}
	}
	if so.executionMode != nil {
		if err := options.SetSessionExecutionMode(*so.executionMode); err != nil {
			return errors.Wrap(err, "failed to set ONNX Runtime execution mode")
		}
	}
	if so.graphOptimization != nil {
		if err := options.SetSessionGraphOptimizationLevel(*so.graphOptimization); err != nil {
			return errors.Wrap(err, "failed to set ONNX Runtime graph optimization level")
		}
	}
	for _, e := range so.entries {
		if err := options.AddSessionConfigEntry(e[0], e[1]); err != nil {
			return errors.Wrapf(err, "failed to set ONNX Runtime session config entry %s=%s", e[0], e[1])
		}
	}
	return nil
}
