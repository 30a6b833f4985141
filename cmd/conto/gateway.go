package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/conto-ledger/conto/gateway"
)

// gatewayCmd runs "conto gateway --engine unix:PATH": the HTTP front as a
// process of its own, handing every request to the data service (conto
// serve --engine-socket PATH) over shared-memory rings.
func gatewayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	engineAddr := fs.String("engine", "", "the data service: unix:PATH of its --engine-socket")
	httpAddr := fs.String("http", "127.0.0.1:7070", "HTTP listen address")
	insecure := fs.Bool("insecure", false, "allow a non-loopback HTTP address (the data service still checks API keys)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "conto gateway: %v\n", err)
		return 2
	}
	path, ok := strings.CutPrefix(*engineAddr, "unix:")
	switch {
	case !ok || path == "":
		fmt.Fprintln(stderr, "conto gateway: --engine must be unix:PATH (the data service's --engine-socket)")
		return 2
	case !*insecure && !isLoopback(*httpAddr):
		fmt.Fprintf(stderr, "conto gateway: refusing to serve HTTP on %s; bind 127.0.0.1 or pass --insecure\n", *httpAddr)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintf(stderr, "conto gateway: %v\n", err)
		return 1
	}
	front := gateway.NewFront(path, log, 0)
	fmt.Fprintf(stdout, "conto gateway: serving http://%s for the data service at %s\n", ln.Addr(), path)
	served := make(chan error, 1)
	go func() { served <- front.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "conto gateway: %v\n", err)
		return 1
	case <-sig:
	}
	front.Shutdown()
	return 0
}
