// Command sd runs Stable Diffusion from the command line.
//
//	go run ./slowai/cmd/sd generate -prompt "a watercolor of a fox" -out fox.png
//	go run ./slowai/cmd/sd weights            # download CompVis/stable-diffusion-v1-4 (make weights)
//	go run ./slowai/cmd/sd parity -golden DIR # compare every component with golden reference data
//
// Benchmarks of the full-size models are Go benchmarks in the model packages:
// go test -bench . ./slowai/sd/unet/ ./slowai/sd/clip/ ./slowai/sd/vae/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

const usage = `usage: sd <command> [flags]

commands:
  generate  make a picture from a prompt (text-to-image or img2img)
  weights   download Stable Diffusion v1 weights into the Hugging Face cache
  parity    compare every component with golden reference data

Run "sd <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "generate":
		err = generate(ctx, args)
	case "weights":
		err = downloadWeights(ctx, args)
	case "parity":
		var ok bool
		ok, err = parity(args)
		if err == nil && !ok {
			os.Exit(1)
		}
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "sd: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sd:", err)
		os.Exit(1)
	}
}
