package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/conto-ledger/conto/engine/ledger"
)

// Config is a run's parameters (SPEC §6; defaults in brackets).
type Config struct {
	Target         string        // inproc | http://HOST:PORT [inproc]
	APIKey         string        // for an http target with API keys
	Accounts       int           // [10000]
	Transfers      int           // [1000000]; with Duration, an upper bound (0: none)
	Duration       time.Duration // run this long instead of a fixed count [0]
	Batch          int           // events per batch [8189]
	Clients        int           // concurrent batches [1]
	Distribution   string        // uniform | zipf | hot [uniform]
	PendingPercent int           // share of pending transfers, later posted or voided [0]
	LinkedPercent  int           // share of transfers sent as linked pairs [0]
	IDOrder        string        // sequential | random [sequential]
	Seed           uint64        // [1]
	// Rate, when > 0, offers that many transfers per second (open loop):
	// batches are scheduled at fixed times and latency is measured from
	// the scheduled time, so a stall counts against every batch it delays
	// (no coordinated omission).
	Rate     int
	Validate bool
	Progress io.Writer // a progress line every second; nil: none
	// ProgressBar redraws one line (a bar) in place instead of printing a
	// line per second: for a terminal.
	ProgressBar bool
}

// Defaults returns the SPEC §6 defaults.
func Defaults() Config {
	return Config{Target: "inproc", Accounts: 10000, Transfers: 1000000, Batch: ledger.MaxBatchEvents, Clients: 1,
		Distribution: "uniform", IDOrder: "sequential", Seed: 1}
}

// Check validates a configuration.
func (c *Config) Check() error {
	switch {
	case c.Accounts < 2 || c.Accounts > 10_000_000:
		return fmt.Errorf("--accounts %d: must be 2..10000000", c.Accounts)
	case c.Transfers < 0 || (c.Transfers == 0 && c.Duration == 0):
		return errors.New("--transfers must be positive (or give --duration)")
	case c.Batch < 1 || c.Batch > ledger.MaxBatchEvents:
		return fmt.Errorf("--batch %d: must be 1..%d", c.Batch, ledger.MaxBatchEvents)
	case c.Clients < 1 || c.Clients > 1024:
		return fmt.Errorf("--clients %d: must be 1..1024", c.Clients)
	case c.Distribution != "uniform" && c.Distribution != "zipf" && c.Distribution != "hot" && c.Distribution != "tpcb":
		return fmt.Errorf("--distribution %q: want uniform, zipf, hot or tpcb", c.Distribution)
	case c.Distribution == "tpcb" && c.Accounts < 100:
		return errors.New("--distribution tpcb needs at least 100 accounts")
	case c.LinkedPercent < 0 || c.LinkedPercent > 100:
		return fmt.Errorf("--linked-percent %d: must be 0..100", c.LinkedPercent)
	case c.PendingPercent < 0 || c.PendingPercent > 100:
		return fmt.Errorf("--pending-percent %d: must be 0..100", c.PendingPercent)
	case c.IDOrder != "sequential" && c.IDOrder != "random":
		return fmt.Errorf("--id-order %q: want sequential or random", c.IDOrder)
	case c.Duration < 0:
		return errors.New("--duration must not be negative")
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	}
	return nil
}

// Report is a run's outcome; its JSON form has at least SPEC §6's fields.
type Report struct {
	Target             string        `json:"target"`
	Batch              int           `json:"batch"`
	Accounts           int           `json:"accounts"`
	Clients            int           `json:"clients"`
	Distribution       string        `json:"distribution"`
	PendingPercent     int           `json:"pending_percent"`
	Transfers          int64         `json:"transfers"`
	Failed             int           `json:"failed_events"`
	Seconds            float64       `json:"seconds"`
	TransfersPerSecond float64       `json:"transfers_per_second"`
	BatchLatencyMS     LatencyMS     `json:"batch_latency_ms"`
	OfferedRate        int           `json:"offered_rate,omitempty"`
	Validated          bool          `json:"validated"`
	ValidationError    string        `json:"validation_error,omitempty"`
	Timeline           []SecondStats `json:"timeline"`
}

// LatencyMS are batch latency percentiles in milliseconds.
type LatencyMS struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	P100 float64 `json:"p100"`
}

// SecondStats is one second of the run.
type SecondStats struct {
	Second    int     `json:"second"`
	Transfers int64   `json:"transfers"`
	P99MS     float64 `json:"p99_ms"`
}

// Run runs a benchmark against an open target.
func Run(ctx context.Context, cfg Config, t Target) (*Report, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if err := createAccounts(ctx, t, cfg.Accounts); err != nil {
		return nil, err
	}
	var (
		gen      = &generator{cfg: &cfg}
		m        = newModel(cfg.Accounts)
		total    = hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
		second   = hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
		histMu   sync.Mutex
		done     atomic.Int64 // acknowledged events
		quota    atomic.Int64 // events handed out
		tickets  atomic.Int64 // batches scheduled (open loop)
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	if err := m.seed(ctx, t); err != nil {
		return nil, err
	}
	gen.nextID.Store(uint64(time.Now().UnixNano())) // sequential ids, new in every run
	start := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	limit := int64(cfg.Transfers)
	var interval time.Duration // between scheduled batches, with --rate
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Batch) / float64(cfg.Rate))
	}
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cg := gen.client(c)
			for {
				n := int64(cfg.Batch)
				if limit > 0 {
					got := quota.Add(n)
					if got-n >= limit {
						return
					}
					n = min(n, limit-(got-n))
				}
				if !deadline.IsZero() && time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				ts := cg.batch(int(n))
				t0 := time.Now()
				if interval > 0 {
					t0 = start.Add(time.Duration(tickets.Add(1)-1) * interval)
					time.Sleep(time.Until(t0))
				}
				res, err := t.CreateTransfers(ctx, ts)
				lat := time.Since(t0)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				histMu.Lock()
				total.RecordValue(lat.Microseconds())
				second.RecordValue(lat.Microseconds())
				histMu.Unlock()
				m.apply(ts, res)
				cg.created(ts, res)
				done.Add(int64(len(ts)))
			}
		}()
	}
	timeline := progress(&cfg, start, &done, second, &histMu, &wg)
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("benchmark stopped: %w", err)
	}
	r := &Report{Target: cfg.Target, Batch: cfg.Batch, Accounts: cfg.Accounts, Clients: cfg.Clients,
		Distribution: cfg.Distribution, PendingPercent: cfg.PendingPercent, Transfers: done.Load(),
		Failed: m.failed, Seconds: elapsed.Seconds(), Timeline: timeline, OfferedRate: cfg.Rate}
	r.TransfersPerSecond = float64(r.Transfers) / r.Seconds
	ms := func(q float64) float64 { return float64(total.ValueAtQuantile(q)) / 1000 }
	r.BatchLatencyMS = LatencyMS{P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(99.9), P100: float64(total.Max()) / 1000}
	if cfg.Validate {
		if err := m.validate(ctx, t); err != nil {
			r.ValidationError = err.Error()
		} else {
			r.Validated = true
		}
	}
	return r, nil
}

// progress prints a line every second until the clients finish, and
// returns the per-second timeline.
func progress(cfg *Config, start time.Time, done *atomic.Int64, second *hdrhistogram.Histogram, mu *sync.Mutex, wg *sync.WaitGroup) []SecondStats {
	w := cfg.Progress
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var timeline []SecondStats
	last := int64(0)
	for n := 1; ; n++ {
		select {
		case <-finished:
			if w != nil && cfg.ProgressBar {
				fmt.Fprintln(w)
			}
			return timeline
		case <-tick.C:
		}
		now := done.Load()
		mu.Lock()
		p99 := float64(second.ValueAtQuantile(99)) / 1000
		second.Reset()
		mu.Unlock()
		timeline = append(timeline, SecondStats{Second: n, Transfers: now - last, P99MS: p99})
		switch {
		case w != nil && cfg.ProgressBar:
			fmt.Fprintf(w, "\r%s %4ds  %10d/s  p99 %8.2f ms ", bar(now, int64(cfg.Transfers), 30), n, now-last, p99)
		case w != nil:
			fmt.Fprintf(w, "%4ds  %12d transfers  %10d/s  p99 %8.2f ms\n", n, now, now-last, p99)
		}
		last = now
	}
}

func createAccounts(ctx context.Context, t Target, n int) error {
	for first := 1; first <= n; first += ledger.MaxBatchEvents {
		k := min(ledger.MaxBatchEvents, n-first+1)
		accts := make([]ledger.Account, k)
		for i := range accts {
			accts[i] = ledger.Account{ID: ledger.U128(uint64(first + i)), Ledger: 1, Code: 1}
		}
		res, err := t.CreateAccounts(ctx, accts)
		if err != nil {
			return fmt.Errorf("create accounts: %w", err)
		}
		for i, r := range res {
			if st := ledger.AccountStatus(r.Status); st != ledger.AccountCreated && st != ledger.AccountExists {
				return fmt.Errorf("create account %d: %v", first+i, st)
			}
		}
	}
	return nil
}

// bar draws done/total as [#####.....]; with no total (a --duration run)
// it draws the count.
func bar(done, total int64, width int) string {
	if total <= 0 {
		return fmt.Sprintf("[%d]", done)
	}
	filled := int(min(done, total) * int64(width) / total)
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}
