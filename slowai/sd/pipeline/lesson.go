package pipeline

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/sd/hub"
)

// TinyDir is where the repository keeps the tiny randomly initialised model the golden data was
// recorded with (golden layout; its component folders link to the model packages' testdata).
func TinyDir() (string, error) {
	root, err := lesson.RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "slowai", "sd", "pipeline", "testdata", "tiny")
	if _, err := os.Stat(filepath.Join(dir, "pipeline", "scheduler_config.json")); err != nil {
		return "", fmt.Errorf("pipeline: tiny model not found under %s: %w", root, err)
	}
	return dir, nil
}

// LessonDir picks the model a notebook should use. In quick mode (lesson.Quick) it is the tiny
// random model; otherwise the real Stable Diffusion v1 weights from the Hugging Face cache when
// they are complete, else the tiny model again. real reports which, and note is a sentence to
// print saying what was chosen and, for the tiny model, that its pictures are noise and how to
// get the real weights.
func LessonDir() (dir string, real bool, note string, err error) {
	if !lesson.Quick() {
		if dir, err := hub.CachedDir(hub.DefaultRepo, "main"); err == nil {
			return dir, true, fmt.Sprintf("Using the real %s weights from the Hugging Face cache.", hub.DefaultRepo), nil
		}
	}
	if dir, err = TinyDir(); err != nil {
		return "", false, "", err
	}
	why := "quick mode"
	if !lesson.Quick() {
		why = "the real weights are not in the Hugging Face cache"
	}
	note = fmt.Sprintf("Using the TINY RANDOM model (%s): same architecture, a few thousand times smaller, "+
		"never trained, so every picture below is structured noise. To see real pictures, %s and run "+
		"this notebook without SLOWAI_QUICK.", why, HowToGetWeights)
	return dir, false, note, nil
}

// LoadLesson loads the model LessonDir picks.
func LoadLesson(be compute.Backend) (sd *StableDiffusion, real bool, note string, err error) {
	dir, real, note, err := LessonDir()
	if err != nil {
		return nil, false, "", err
	}
	if sd, err = Load(dir, be); err != nil {
		return nil, false, "", err
	}
	return sd, real, note, nil
}
