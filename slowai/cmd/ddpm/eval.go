package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/ddpm"
	"github.com/slowai-go/course/slowai/fashionclf"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/show"
)

// Paths of the committed checkpoints, relative to the repository root.
const (
	denoiserPath   = "data/checkpoints/ddpm_fashion.safetensors"
	classifierPath = "data/checkpoints/fashion_classifier.safetensors"
)

func eval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ExitOnError)
	be := fs.String("backend", "onnx", "compute backend")
	ckpt := fs.String("ckpt", denoiserPath, "denoiser checkpoint")
	raw := fs.Bool("raw", false, "sample with a training checkpoint's raw weights instead of its EMA")
	clf := fs.String("classifier", classifierPath, "classifier weights")
	n := fs.Int("n", 1000, "number of samples")
	steps := fs.Int("steps", 50, "sampler steps")
	useDDPM := fs.Bool("ddpm", false, "ancestral DDPM sampling instead of DDIM")
	batch := fs.Int("batch", 250, "images per model call")
	seed := fs.Uint64("seed", 0, "sampling seed")
	png := fs.String("png", "", "if set, save a grid of the first 64 samples here")
	fs.Parse(args)

	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	load := ddpm.LoadDenoiser
	if *raw {
		load = ddpm.LoadRawDenoiser
	}
	den, ck, err := load(b, lesson.RepoPath(*ckpt))
	if err != nil {
		return err
	}
	defer den.Finalize()
	c, err := fashionclf.Load(b, lesson.RepoPath(*clf))
	if err != nil {
		return err
	}
	kind := "DDIM"
	if *useDDPM {
		kind = "DDPM"
	}
	fmt.Printf("sampling %d images with %s, %d steps, seed %d, checkpoint %s (step %d, loss %.4f)\n",
		*n, kind, *steps, *seed, *ckpt, ck.Step, ck.Loss)
	start := time.Now()
	imgs, _, err := den.Sample(ddpm.SampleOptions{N: *n, Batch: *batch, Steps: *steps, DDPM: *useDDPM, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Printf("sampled in %.1f s\n", time.Since(start).Seconds())
	unit := ddpm.ToUnit(imgs, ck.Config.Size, fashionclf.H, fashionclf.W)
	probs, err := c.Probs(unit)
	if err != nil {
		return err
	}
	v := fashionclf.Judge(probs)
	ok := printVerdict(v)
	if *png != "" {
		k := min(64, len(unit))
		if err := show.SavePNG(must(show.Grid(unit[:k], fashionclf.H, fashionclf.W, 8, nil, kind+" samples")), lesson.RepoPath(*png)); err != nil {
			return err
		}
	}
	if !ok {
		return fmt.Errorf("acceptance failed: want every class >= 3%% and mean top-class probability >= 0.7")
	}
	return nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// printVerdict prints the class distribution and reports whether it meets the acceptance bar.
func printVerdict(v fashionclf.Verdict) bool {
	fmt.Printf("%-12s %6s %7s\n", "class", "count", "share")
	for i, name := range fashionclf.Classes {
		fmt.Printf("%-12s %6d %6.1f%%\n", name, v.Counts[i], 100*v.Fractions[i])
	}
	ok := v.MinFraction() >= 0.03 && v.MeanTopProb >= 0.7
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	fmt.Printf("rarest class %.1f%%, mean top-class probability %.3f: %s (need >= 3%% and >= 0.7)\n",
		100*v.MinFraction(), v.MeanTopProb, verdict)
	return ok
}

func classifier(args []string) error {
	fs := flag.NewFlagSet("classifier", flag.ExitOnError)
	be := fs.String("backend", "onnx", "compute backend")
	seed := fs.Uint64("seed", 1, "seed")
	out := fs.String("out", classifierPath, "where to save the weights")
	fs.Parse(args)
	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	train, err := data.FashionMNIST("train")
	if err != nil {
		return err
	}
	test, err := data.FashionMNIST("test")
	if err != nil {
		return err
	}
	start := time.Now()
	metrics := learn.NewMetrics("accuracy", learn.Metric(learn.Accuracy))
	c, l, err := fashionclf.Train(b, train, test, 128, *seed, fashionclf.Recipe, metrics, &learn.Progress{})
	if err != nil {
		return err
	}
	acc, err := c.Accuracy(test)
	if err != nil {
		return err
	}
	fmt.Printf("trained %d steps in %.1f min, test accuracy %.2f%%\n", l.Step, time.Since(start).Minutes(), 100*acc)
	if err := c.Save(lesson.RepoPath(*out), acc); err != nil {
		return err
	}
	fmt.Println("saved", *out)
	return nil
}
