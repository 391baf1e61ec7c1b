package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/slowai-go/course/slowai/sd/hub"
)

// downloadWeights downloads a diffusers SD v1 repository into the Hugging Face cache (what `make
// weights` runs). Files already there are not fetched again.
func downloadWeights(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("weights", flag.ContinueOnError)
	repo := fs.String("repo", hub.DefaultRepo, "Hugging Face repository (diffusers layout, SD v1 architecture)")
	revision := fs.String("revision", "main", "branch, tag or commit")
	noFP16 := fs.Bool("no-fp16", false, "fetch the float32 weights even where fp16 ones exist (twice the size)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("weights: unexpected arguments %q", fs.Args())
	}
	fmt.Printf("downloading %s@%s into %s (about 2 GB with fp16 weights; HF_TOKEN is used if set)\n", *repo, *revision, hub.CacheDir())
	dir, err := hub.Download(ctx, *repo, *revision, hub.Options{NoFP16: *noFP16})
	if err != nil {
		return err
	}
	fmt.Println("weights ready in", dir)
	return nil
}
