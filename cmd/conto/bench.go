package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/conto-ledger/conto/bench"
	"golang.org/x/sys/unix"
)

// benchCmd runs "conto bench" (SPEC §6). Exit 1 if --validate fails.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return benchCompare(args[1:], stdout, stderr)
	}
	cfg := bench.Defaults()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "inproc, inproc-nochains (hash chains off, to measure their cost), or http://HOST:PORT of a running node")
	fs.StringVar(&cfg.APIKey, "api-key", "", "API key for an http target")
	fs.IntVar(&cfg.Accounts, "accounts", cfg.Accounts, "accounts")
	fs.IntVar(&cfg.Transfers, "transfers", cfg.Transfers, "transfers (an upper bound with --duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "run this long instead of a fixed number of transfers")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "events per batch (1..8189)")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "batches in flight")
	fs.StringVar(&cfg.Distribution, "distribution", cfg.Distribution, "uniform, zipf, hot (every credit to one account) or tpcb (customer -> teller -> branch chains)")
	fs.IntVar(&cfg.LinkedPercent, "linked-percent", 0, "share of transfers sent as linked pairs")
	fs.IntVar(&cfg.PendingPercent, "pending-percent", 0, "share of pending transfers, later posted or voided")
	fs.StringVar(&cfg.IDOrder, "id-order", cfg.IDOrder, "sequential or random transfer ids")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	fs.BoolVar(&cfg.Validate, "validate", false, "check every acknowledged transfer, balances and conservation afterwards")
	fs.IntVar(&cfg.Rate, "rate", 0, "offered transfers per second, open loop (0: as fast as the clients go)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	csvOut := fs.String("csv", "", "write the per-second timeline as CSV to this file")
	htmlOut := fs.String("html", "", "write a self-contained HTML report with charts to this file")
	compare := fs.String("compare", "", "also run the workload against PostgreSQL at this postgres:// URL and print both")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "conto bench: %v\n", err)
		return 2
	}
	if err := cfg.Check(); err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintf(stderr, "conto bench: %v\n", err)
		return 2
	}
	cfg.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		cfg.ProgressBar = err == nil // a terminal: one line redrawn in place
	}
	t, err := bench.OpenTarget(cfg.Target, cfg.APIKey)
	if err != nil {
		fmt.Fprintf(stderr, "conto bench: %v\n", err)
		return 2
	}
	defer t.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := bench.Run(ctx, cfg, t)
	if err != nil {
		fmt.Fprintf(stderr, "conto bench: %v\n", err)
		return 1
	}
	bench.WriteSummary(stdout, r)
	if *compare != "" {
		pg, err := runPostgres(ctx, cfg, *compare)
		if err != nil {
			fmt.Fprintf(stderr, "conto bench: postgres: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "\n== PostgreSQL, the same workload")
		bench.WriteSummary(stdout, pg)
		fmt.Fprintln(stdout, "\n== conto (a) against PostgreSQL (b)")
		bench.WriteComparison(stdout, r, pg)
		fmt.Fprintf(stdout, "conto/PostgreSQL throughput ratio: %.1fx\n", r.TransfersPerSecond/pg.TransfersPerSecond)
		if cfg.Validate && !pg.Validated {
			return 1
		}
	}
	if err := writeOutputs(r, *jsonOut, *csvOut, *htmlOut); err != nil {
		fmt.Fprintf(stderr, "conto bench: %v\n", err)
		return 1
	}
	if cfg.Validate && !r.Validated {
		return 1
	}
	return 0
}

// writeOutputs writes the report files asked for.
func writeOutputs(r *bench.Report, jsonPath, csvPath, htmlPath string) error {
	if jsonPath != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	for path, write := range map[string]func(io.Writer, *bench.Report) error{csvPath: bench.WriteCSV, htmlPath: bench.WriteHTML} {
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = write(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// benchCompare runs "conto bench compare a.json b.json".
func benchCompare(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: conto bench compare a.json b.json")
		return 2
	}
	a, err := bench.ReadReport(args[0])
	if err == nil {
		var b *bench.Report
		if b, err = bench.ReadReport(args[1]); err == nil {
			bench.WriteComparison(stdout, a, b)
			return 0
		}
	}
	fmt.Fprintf(stderr, "conto bench compare: %v\n", err)
	return 2
}

// runPostgres runs the same configuration against PostgreSQL.
func runPostgres(ctx context.Context, cfg bench.Config, url string) (*bench.Report, error) {
	t, err := bench.OpenPostgres(ctx, url)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	cfg.Target = "postgres"
	return bench.Run(ctx, cfg, t)
}
