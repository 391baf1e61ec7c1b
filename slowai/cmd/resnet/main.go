// Command resnet trains and evaluates the Fashion-MNIST ResNet of lessons 11 and 12, the classifier
// committed as data/checkpoints/fashion_resnet.safetensors (lesson 17 takes its features for FID).
//
//	go run ./slowai/cmd/resnet train [flags]   # train (or resume), then write the weights file
//	go run ./slowai/cmd/resnet eval  [flags]   # test accuracy of a weights file, with and without TTA
//
// Run either with -h for the flags.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/learn"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/resnet"
	"github.com/slowai-go/course/slowai/safetensors"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "train":
		err = train(os.Args[2:])
	case "eval":
		err = eval(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "resnet:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: resnet train|eval [flags]  (resnet <cmd> -h for flags)")
	os.Exit(2)
}

func train(args []string) error {
	r := resnet.CommittedRecipe
	fs := flag.NewFlagSet("train", flag.ExitOnError)
	be := fs.String("backend", "onnx", "compute backend: onnx, go or xla")
	fs.IntVar(&r.Epochs, "epochs", r.Epochs, "epochs (the one-cycle schedule spans them)")
	fs.IntVar(&r.Batch, "batch", r.Batch, "batch size")
	fs.Float64Var(&r.LR, "lr", r.LR, "peak learning rate (AdamW, one-cycle)")
	fs.Float64Var(&r.WD, "wd", r.WD, "AdamW's weight decay")
	fs.IntVar(&r.Crop, "crop", r.Crop, "random shift of up to this many pixels (pad and crop); 0 for none")
	fs.BoolVar(&r.Flip, "flip", r.Flip, "mirror half the training images left to right")
	fs.Uint64Var(&r.Seed, "seed", r.Seed, "seed for weights, batch order and augmentation")
	ckpt := fs.String("ckpt", "data/resnet/train.safetensors", "training checkpoint (learn.Learner.Save), relative to the repo root")
	every := fs.Int("every", 100, "save the training checkpoint every this many steps")
	resume := fs.Bool("resume", false, "continue from -ckpt if it exists, with its recipe")
	deadline := fs.String("deadline", "", "stop after this wall-clock time (HH:MM, local), saving the training checkpoint")
	out := fs.String("out", "data/checkpoints/fashion_resnet.safetensors", "weights file written when training ends")
	fs.Parse(args)

	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	trainSet, err := data.FashionMNIST("train")
	if err != nil {
		return err
	}
	test, err := data.FashionMNIST("test")
	if err != nil {
		return err
	}
	path := lesson.RepoPath(*ckpt)
	var base float64 // seconds trained before this process
	if _, statErr := os.Stat(path); *resume && statErr == nil {
		f, err := safetensors.Open(path)
		if err != nil {
			return err
		}
		md := f.Metadata
		f.Close()
		if err := json.Unmarshal([]byte(md["recipe"]), &r); err != nil {
			return fmt.Errorf("%s: metadata recipe %q: %w (not a resnet training checkpoint)", path, md["recipe"], err)
		}
		base, _ = strconv.ParseFloat(md["seconds"], 64)
	}
	log := &epochLog{start: time.Now(), base: base}
	metrics := learn.NewMetrics("accuracy", learn.Metric(learn.Accuracy))
	l, err := resnet.NewLearner(b, r, trainSet, test, metrics, log)
	if err != nil {
		return err
	}
	defer l.Close()
	if _, statErr := os.Stat(path); *resume && statErr == nil {
		if err := l.Load(path); err != nil {
			return err
		}
		fmt.Printf("resumed %s at step %d (epoch %d of %d)\n", path, l.Step, l.Epoch+1, r.Epochs)
	} else {
		fmt.Printf("training %d parameters for %d epochs of %d images on %s: %+v\n",
			l.Model.Specs().NumTrainable(), r.Epochs, trainSet.N, b.Name(), r)
	}
	recipe, _ := json.Marshal(r)
	meta := map[string]string{"recipe": string(recipe), "backend": b.Name()}
	log.meta = meta
	extra := []learn.Callback{r.Schedule(l), learn.Checkpoint{Path: path, Every: *every, Meta: meta}}
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
	if err := l.Fit(r.Epochs-l.Epoch, extra...); err != nil {
		return err
	}
	meta["seconds"] = strconv.FormatFloat(log.seconds(), 'f', 1, 64)
	if err := l.Save(path, meta); err != nil {
		return err
	}
	if l.Epoch < r.Epochs {
		fmt.Printf("stopped at the deadline: step %d, epoch %d of %d; run again with -resume\n", l.Step, l.Epoch+1, r.Epochs)
		return nil
	}
	c := resnet.NewClassifier(l.Vars)
	defer c.Close()
	plain, err := c.Accuracy(test, false)
	if err != nil {
		return err
	}
	tta, err := c.Accuracy(test, true)
	if err != nil {
		return err
	}
	meta["test_accuracy"] = strconv.FormatFloat(plain, 'f', 4, 64)
	meta["test_accuracy_tta"] = strconv.FormatFloat(tta, 'f', 4, 64)
	meta["steps"] = strconv.Itoa(l.Step)
	if err := c.Save(lesson.RepoPath(*out), meta); err != nil {
		return err
	}
	fmt.Printf("done: %d steps in %.1f minutes; test accuracy %.4f, with TTA %.4f; wrote %s\n",
		l.Step, log.seconds()/60, plain, tta, *out)
	return nil
}

// epochLog prints a line every 50 steps and one per epoch (for a background run's log), and keeps
// the training wall time across resumes in the checkpoint's metadata.
type epochLog struct {
	start time.Time
	base  float64
	last  time.Time
	meta  map[string]string
}

func (e *epochLog) seconds() float64 { return e.base + time.Since(e.start).Seconds() }

// Order runs after Metrics has closed the epoch.
func (e *epochLog) Order() int { return 50 }

func (e *epochLog) AfterBatch(l *learn.Learner) error {
	if e.meta != nil {
		e.meta["seconds"] = strconv.FormatFloat(e.seconds(), 'f', 1, 64)
	}
	if l.Training && l.Step%50 == 0 {
		now := time.Now()
		if e.last.IsZero() {
			e.last = e.start
		}
		fmt.Printf("%s step %d loss %.4f lr %.2e (%.1f s since the last line)\n", now.Format("15:04:05"), l.Step, l.LossValue, l.LR, now.Sub(e.last).Seconds())
		e.last = now
	}
	return nil
}

func (e *epochLog) AfterEpoch(l *learn.Learner) error {
	m, ok := learn.Find[*learn.Metrics](l)
	if !ok || l.Training {
		return nil
	}
	tr, _ := m.Last(true)
	va, _ := m.Last(false)
	fmt.Printf("%s epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f (%.1f min)\n", time.Now().Format("15:04:05"),
		l.Epoch+1, tr.Loss, va.Loss, va.Metrics["accuracy"], e.seconds()/60)
	return nil
}

func eval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ExitOnError)
	be := fs.String("backend", "onnx", "compute backend: onnx, go or xla")
	in := fs.String("weights", "data/checkpoints/fashion_resnet.safetensors", "weights file (resnet train's -out)")
	fs.Parse(args)
	b, err := backend.NewNamed(*be)
	if err != nil {
		return err
	}
	c, err := resnet.Load(b, lesson.RepoPath(*in))
	if err != nil {
		return err
	}
	defer c.Close()
	test, err := data.FashionMNIST("test")
	if err != nil {
		return err
	}
	start := time.Now()
	plain, err := c.Accuracy(test, false)
	if err != nil {
		return err
	}
	mid := time.Now()
	tta, err := c.Accuracy(test, true)
	if err != nil {
		return err
	}
	fmt.Printf("%s on the %d test images: accuracy %.4f (%.1f s), with flip TTA %.4f (%.1f s)\n", *in, test.N,
		plain, mid.Sub(start).Seconds(), tta, time.Since(mid).Seconds())
	return nil
}
