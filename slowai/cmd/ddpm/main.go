// Command ddpm trains and evaluates lesson 13's Fashion-MNIST denoiser.
//
//	go run ./slowai/cmd/ddpm train  [flags]   # train (or resume) and save checkpoints
//	go run ./slowai/cmd/ddpm export [flags]   # shrink a training checkpoint to a sampling checkpoint
//	go run ./slowai/cmd/ddpm eval   [flags]   # 1,000 DDIM samples judged by the Fashion classifier
//	go run ./slowai/cmd/ddpm classifier [flags] # train the judging classifier
//
// Run any of them with -h for the flags.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "train":
		err = train(os.Args[2:])
	case "export":
		err = export(os.Args[2:])
	case "eval":
		err = eval(os.Args[2:])
	case "classifier":
		err = classifier(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddpm:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ddpm train|export|eval|classifier [flags]  (ddpm <cmd> -h for flags)")
	os.Exit(2)
}
