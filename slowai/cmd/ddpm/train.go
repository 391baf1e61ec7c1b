package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/ddpm"
	"github.com/slowai-go/course/slowai/lesson"
)

// repoPath resolves a path relative to the repository root (absolute paths pass through).
func repoPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	root, err := lesson.RepoRoot()
	if err != nil {
		return p
	}
	return filepath.Join(root, p)
}

func train(args []string) error {
	fs := flag.NewFlagSet("train", flag.ExitOnError)
	be := fs.String("backend", "onnx", "compute backend: onnx, go or xla")
	steps := fs.Int("steps", 2450, "planned optimizer steps (the LR schedule spans them)")
	batch := fs.Int("batch", 32, "batch size (the benchmark uses 128; more, smaller steps train faster per image here)")
	lr := fs.Float64("lr", 2e-3, "peak learning rate")
	ema := fs.Float64("ema", 0.995, "top decay of the weights' moving average")
	seed := fs.Uint64("seed", 1, "seed for weights, batches and noise")
	schedule := fs.String("schedule", "cosine", "noise schedule: cosine or linear")
	out := fs.String("out", "data/ddpm/train.safetensors", "training checkpoint (with optimizer state), relative to the repo root")
	every := fs.Int("every", 100, "save the checkpoint every this many steps")
	resume := fs.Bool("resume", false, "continue from -out if it exists")
	deadline := fs.String("deadline", "", "stop after this wall-clock time (HH:MM, local), saving a checkpoint")
	progressBar := fs.Bool("progress", true, "draw a progress bar on stderr")
	fs.Parse(args)

	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	ds, err := data.FashionMNIST("train")
	if err != nil {
		return err
	}
	path := repoPath(*out)
	var tr *ddpm.Trainer
	if *resume {
		if _, err := os.Stat(path); err == nil {
			ck, err := ddpm.LoadCheckpoint(path)
			if err != nil {
				return err
			}
			if tr, err = ddpm.Resume(b, ck, ds, *steps); err != nil {
				return err
			}
			fs.Visit(func(f *flag.Flag) { // flags given explicitly override the checkpoint's settings
				switch f.Name {
				case "batch":
					tr.Train.BatchSize = *batch
				case "lr":
					tr.Train.LR = *lr
				}
			})
			fmt.Printf("resumed %s at step %d (planned %d, batch %d)\n", path, tr.Step, tr.Train.Steps, tr.Train.BatchSize)
		}
	}
	if tr == nil {
		cfg := ddpm.DefaultConfig()
		cfg.Schedule = *schedule
		tr, err = ddpm.NewTrainer(b, cfg, ddpm.TrainConfig{Steps: *steps, BatchSize: *batch, LR: *lr, EMADecay: *ema, Seed: *seed}, ds)
		if err != nil {
			return err
		}
		fmt.Printf("training %d parameters for %d steps of %d images on %s, schedule %s\n",
			cfg.NumParams(), *steps, *batch, *be, cfg.Schedule)
	}
	opt := ddpm.RunOptions{Progress: *progressBar, Log: os.Stdout, LogEvery: 10, CheckpointPath: path, CheckpointEvery: *every}
	if *deadline != "" {
		t, err := time.ParseInLocation("15:04", *deadline, time.Local)
		if err != nil {
			return fmt.Errorf("-deadline %q: want HH:MM: %w", *deadline, err)
		}
		now := time.Now()
		opt.Deadline = time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, time.Local)
		if opt.Deadline.Before(now) {
			opt.Deadline = opt.Deadline.Add(24 * time.Hour)
		}
	}
	if err := tr.Run(opt); err != nil {
		return err
	}
	fmt.Printf("done: step %d, loss (mean of last 100) %.5f, %.1f minutes of training\n", tr.Step, tr.SmoothedLoss(100), tr.Seconds/60)
	return nil
}

func export(args []string) error {
	fs := flag.NewFlagSet("export", flag.ExitOnError)
	in := fs.String("in", "data/ddpm/train.safetensors", "training checkpoint")
	out := fs.String("out", "data/checkpoints/ddpm_fashion.safetensors", "sampling checkpoint to write")
	raw := fs.Bool("raw", false, "export the raw weights instead of their moving average")
	fs.Parse(args)
	ck, err := ddpm.LoadCheckpoint(repoPath(*in))
	if err != nil {
		return err
	}
	w, which := ck.Best(), "ema"
	if *raw || ck.EMA == nil {
		w, which = ck.Weights, "raw"
	}
	meta := map[string]string{
		"train": ck.Metadata["train"], "step": ck.Metadata["step"], "loss": ck.Metadata["loss"],
		"seconds": ck.Metadata["seconds"], "weights": which, "backend": ck.Metadata["backend"],
	}
	if err := ddpm.SaveWeights(repoPath(*out), ck.Config, w, ck.Losses(), meta); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%s weights, step %d, loss %.5f, %.1f min)\n", *out, which, ck.Step, ck.Loss, ck.Seconds/60)
	return nil
}
