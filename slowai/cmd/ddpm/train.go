package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/ddpm"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/nn/module"
)

func train(args []string) error {
	fs := flag.NewFlagSet("train", flag.ExitOnError)
	be := fs.String("backend", "onnx", "compute backend: onnx, go or xla")
	steps := fs.Int("steps", 2450, "planned optimizer steps (the LR schedule spans them)")
	batch := fs.Int("batch", 32, "batch size (the benchmark uses 128; more, smaller steps train faster per image here)")
	lr := fs.Float64("lr", 2e-3, "peak learning rate")
	ema := fs.Float64("ema", 0.995, "top decay of the weights' moving average")
	seed := fs.Uint64("seed", 1, "seed for weights, batches and noise")
	schedule := fs.String("schedule", "cosine", "noise schedule: cosine or linear")
	out := fs.String("out", "data/ddpm/train.safetensors", "training checkpoint (learn.Learner.Save), relative to the repo root")
	every := fs.Int("every", 100, "save the checkpoint every this many steps")
	resume := fs.Bool("resume", false, "continue from -out if it exists (its settings; -steps stretches the schedule)")
	deadline := fs.String("deadline", "", "stop after this wall-clock time (HH:MM, local), saving a checkpoint")
	logEvery := fs.Int("log", 10, "print a line every this many steps")
	fs.Parse(args)

	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	ds, err := data.FashionMNIST("train")
	if err != nil {
		return err
	}
	path := lesson.RepoPath(*out)
	logger := &stepLog{every: *logEvery, start: time.Now()}
	var l *learn.Learner
	var cfg ddpm.Config
	var tc ddpm.TrainConfig
	if _, statErr := os.Stat(path); *resume && statErr == nil {
		if l, cfg, tc, err = ddpm.ResumeLearner(b, path, ds, *steps, logger); err != nil {
			return err
		}
		ck, err := ddpm.LoadCheckpoint(path)
		if err != nil {
			return err
		}
		logger.base = ck.Seconds
		fmt.Printf("resumed %s at step %d (planned %d, batch %d)\n", path, l.Step, tc.Steps, tc.BatchSize)
	} else {
		cfg = ddpm.DefaultConfig()
		cfg.Schedule = *schedule
		tc = ddpm.TrainConfig{Steps: *steps, BatchSize: *batch, LR: *lr, EMADecay: *ema, Seed: *seed}
		if l, err = ddpm.NewLearner(b, cfg, tc, ds, logger); err != nil {
			return err
		}
		fmt.Printf("training %d parameters for %d steps of %d images on %s, schedule %s\n",
			cfg.NumParams(), *steps, *batch, *be, cfg.Schedule)
	}
	defer l.Close()
	logger.total = tc.Steps
	meta := ddpm.Meta(cfg, tc)
	meta["backend"] = b.Name()
	logger.meta = meta
	extra := []learn.Callback{learn.Checkpoint{Path: path, Every: *every, Meta: meta}}
	if *deadline != "" {
		t, err := time.ParseInLocation("15:04", *deadline, time.Local)
		if err != nil {
			return fmt.Errorf("-deadline %q: want HH:MM: %w", *deadline, err)
		}
		now := time.Now()
		d := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, time.Local)
		if d.Before(now) {
			d = d.Add(24 * time.Hour)
		}
		extra = append(extra, learn.StopAt(d))
	}
	if err := ddpm.TrainSteps(l, tc.Steps, extra...); err != nil {
		return err
	}
	// StopAfter and the deadline end the fit by cancelling it, which skips Checkpoint's AfterFit.
	meta["seconds"] = strconv.FormatFloat(logger.seconds(), 'f', 1, 64)
	if err := l.Save(path, meta); err != nil {
		return err
	}
	fmt.Printf("checkpoint %s at step %d\n", *out, l.Step)
	fmt.Printf("done: step %d, loss (mean of last 100) %.5f, %.1f minutes of training\n",
		l.Step, ddpm.SmoothedLoss(ddpm.Losses(l), 100), logger.seconds()/60)
	return nil
}

// stepLog prints the loss, learning rate and speed every few steps (for a background run's log)
// and keeps the training wall time across resumes in the checkpoint's metadata.
type stepLog struct {
	every, total int
	start        time.Time
	base         float64 // seconds trained before this process
	lastT        time.Time
	lastStep     int
	meta         map[string]string
}

func (s *stepLog) seconds() float64 { return s.base + time.Since(s.start).Seconds() }

func (s *stepLog) AfterBatch(l *learn.Learner) error {
	if s.meta != nil {
		s.meta["seconds"] = strconv.FormatFloat(s.seconds(), 'f', 1, 64)
	}
	if !l.Training || s.every <= 0 || l.Step%s.every != 0 {
		return nil
	}
	now := time.Now()
	if s.lastT.IsZero() {
		s.lastT, s.lastStep = s.start, l.Step-s.every
	}
	rate := float64(l.Data.Train.BatchSize()*(l.Step-s.lastStep)) / max(1e-9, now.Sub(s.lastT).Seconds())
	s.lastT, s.lastStep = now, l.Step
	fmt.Printf("%s step %d/%d loss %.5f (mean of last %d: %.5f) lr %.2e %.1f img/s\n", now.Format("15:04:05"),
		l.Step, s.total, l.LossValue, s.every, ddpm.SmoothedLoss(ddpm.Losses(l), s.every), l.LR, rate)
	return nil
}

func export(args []string) error {
	fs := flag.NewFlagSet("export", flag.ExitOnError)
	in := fs.String("in", "data/ddpm/train.safetensors", "training checkpoint")
	out := fs.String("out", "data/checkpoints/ddpm_fashion.safetensors", "weights file to write")
	raw := fs.Bool("raw", false, "export the raw weights instead of their moving average")
	be := fs.String("backend", "go", "backend holding the weights while they are copied")
	fs.Parse(args)
	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	ck, err := ddpm.LoadCheckpoint(lesson.RepoPath(*in))
	if err != nil {
		return err
	}
	v := module.NewVarsOn("/unet", b)
	if err := ddpm.LoadWeights(v, lesson.RepoPath(*in), ck.Config, *raw); err != nil {
		return err
	}
	which := "ema"
	if *raw {
		which = "raw"
	}
	meta := map[string]string{
		"train": ck.Metadata["train"], "step": strconv.Itoa(ck.Step), "loss": strconv.FormatFloat(ck.Loss, 'g', 6, 64),
		"seconds": ck.Metadata["seconds"], "weights": which, "backend": ck.Metadata["backend"],
	}
	if err := ddpm.SaveWeights(lesson.RepoPath(*out), ck.Config, v, ck.Losses(), meta); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%s weights, step %d, loss %.5f, %.1f min)\n", *out, which, ck.Step, ck.Loss, ck.Seconds/60)
	return nil
}
