// Command conto is the one conto binary: it serves the API, runs the
// benchmark harness and verifies data (SPEC §5). Bad flags or config print a
// one-line reason and exit 2.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

const usage = `usage: conto <command> [flags]

commands:
  serve     run a node and its HTTP API (conto serve -h for flags)
  bench     the load generator (conto bench -h for flags)
  gateway   an HTTP front in its own process, over shared memory (--engine unix:PATH)
  keys add  create an API key (conto keys add --data DIR [--name NAME])
  verify    check hash chains, conservation and checkpoints (--data DIR offline, or --url URL)
  vault     split storage of valuable items: center, cluster, rotate, check, repair (conto vault help)
  version   print the build's version and Go version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "keys":
		return keys(args[1:], stdout, stderr)
	case "gateway":
		return gatewayCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "verify":
		return verifyCmd(args[1:], stdout, stderr)
	case "vault":
		return vaultCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "conto: unknown command %q (try conto help)\n", args[0])
	return 2
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "conto (unknown build)"
	}
	rev := "devel"
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			rev = s.Value
		}
	}
	return fmt.Sprintf("conto %s %s (%s)", info.Main.Version, rev, info.GoVersion)
}
