package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/conto-ledger/conto/gateway"
)

// keys runs "conto keys add --data DIR [--name NAME]": it creates an API
// key, stores its hash in the data directory and prints the key once.
func keys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: conto keys add --data DIR [--name NAME]")
		return 2
	}
	fs := flag.NewFlagSet("keys add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", "./conto-data", "data directory of the node")
	name := fs.String("name", "default", "a name for the key (one word)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "conto keys add: bad flags (usage: conto keys add --data DIR [--name NAME])")
		return 2
	}
	key, err := gateway.NewAPIKey(*data, *name)
	if err != nil {
		fmt.Fprintf(stderr, "conto keys add: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, key)
	fmt.Fprintln(stderr, "conto: the key is shown only now; the node keeps its hash. Restart the node to load it.")
	return 0
}
