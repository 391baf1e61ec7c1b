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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

// usageError is a flag the flag package could not parse; it has printed the problem and the
// flags already, so main only sets the exit status.
type usageError struct{ error }

// parseFlags parses args into fs: -h gives flag.ErrHelp (exit 0), a bad flag a usageError (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

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
	switch {
	case errors.Is(err, flag.ErrHelp): // -h: the flags were printed as asked
		return
	case errors.As(err, new(usageError)): // the flag package printed the problem and the flags
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "sd:", err)
		os.Exit(1)
	}
}
