// Command fetchdata fills the data cache (SLOWAI_DATA, default data/) with the data sets the
// lessons use, so notebooks later start without waiting for a download (`make data`).
//
// Each set is fetched by the slowai/data loaders: from the cache if present, else the canonical
// URLs (checksummed), else the copies that ship with the machine (see data/README.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slowai-go/course/slowai/data"
)

var loaders = map[string]func(split string) (*data.Dataset, error){
	"mnist":         data.MNIST,
	"fashion-mnist": data.FashionMNIST,
}

func main() {
	sets := flag.String("sets", "mnist,fashion-mnist", "comma-separated data sets to fetch: mnist, fashion-mnist")
	flag.Parse()
	fmt.Printf("data cache: %s\n", data.CacheDir())
	failed := false
	for _, name := range strings.Split(*sets, ",") {
		name = strings.TrimSpace(name)
		load, ok := loaders[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "fetchdata: unknown data set %q (want mnist or fashion-mnist)\n", name)
			failed = true
			continue
		}
		for _, split := range []string{"train", "test"} {
			t0 := time.Now()
			ds, err := load(split)
			if err != nil {
				fmt.Fprintf(os.Stderr, "fetchdata: %s/%s: %v\n", name, split, err)
				failed = true
				continue
			}
			fmt.Printf("%-14s %-5s %6d images %dx%d  %v\n", name, split, ds.N, ds.H, ds.W, time.Since(t0).Round(time.Millisecond))
		}
	}
	if failed {
		os.Exit(1)
	}
}
