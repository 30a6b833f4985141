package bench

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

func openTestTarget(t *testing.T) Target {
	t.Helper()
	tg, err := OpenTarget("inproc", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func smallConfig() Config {
	c := Defaults()
	c.Accounts, c.Transfers, c.Batch, c.Clients = 50, 3000, 100, 3
	c.Validate = true
	return c
}

func TestRunsValidateOnEveryWorkload(t *testing.T) {
	tg := openTestTarget(t)
	for _, tweak := range []func(*Config){
		func(c *Config) {},
		func(c *Config) { c.Distribution = "zipf"; c.IDOrder = "random" },
		func(c *Config) { c.Distribution = "hot"; c.PendingPercent = 30 },
		func(c *Config) { c.LinkedPercent = 50; c.PendingPercent = 10 },
		func(c *Config) { c.Distribution = "tpcb"; c.Accounts = 2000 },
	} {
		cfg := smallConfig()
		tweak(&cfg)
		r, err := Run(context.Background(), cfg, tg)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Validated || r.Transfers != int64(cfg.Transfers) || r.Failed != 0 {
			t.Fatalf("%s/%d%%: %+v", cfg.Distribution, cfg.PendingPercent, r)
		}
	}
}

// dropOne acknowledges one transfer without sending it: a target that
// loses an acknowledged write, which --validate must catch and name.
type dropOne struct {
	Target
	claimed atomic.Bool
	dropped atomic.Value // ledger.Uint128
}

func (d *dropOne) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	if len(ts) < 2 || ts[len(ts)-1].Flags != 0 || !d.claimed.CompareAndSwap(false, true) {
		return d.Target.CreateTransfers(ctx, ts)
	}
	last := ts[len(ts)-1]
	res, err := d.Target.CreateTransfers(ctx, ts[:len(ts)-1])
	if err != nil {
		return nil, err
	}
	d.dropped.Store(last.ID)
	return append(res, ledger.Result{Status: uint32(ledger.TransferCreated), Timestamp: 1}), nil
}

func TestValidateCatchesALostTransfer(t *testing.T) {
	faulty := &dropOne{Target: openTestTarget(t)}
	r, err := Run(context.Background(), smallConfig(), faulty)
	if err != nil {
		t.Fatal(err)
	}
	lost := faulty.dropped.Load().(ledger.Uint128)
	if r.Validated || !strings.Contains(r.ValidationError, lost.String()) {
		t.Fatalf("validation %v %q, want a failure naming transfer %s", r.Validated, r.ValidationError, lost)
	}
}

func TestReportJSONHasSpecFields(t *testing.T) {
	r, err := Run(context.Background(), smallConfig(), openTestTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"transfers", "seconds", "transfers_per_second", "batch_latency_ms", "validated", "target", "batch", "accounts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	lat := m["batch_latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p99", "p100"} {
		if v, ok := lat[k].(float64); !ok || v <= 0 {
			t.Errorf("batch_latency_ms.%s = %v", k, lat[k])
		}
	}
	if m["transfers"].(float64) != 3000 || m["validated"] != true {
		t.Errorf("report %s", b)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, bad := range []func(*Config){
		func(c *Config) { c.Batch = 0 }, func(c *Config) { c.Batch = 8190 }, func(c *Config) { c.Accounts = 1 },
		func(c *Config) { c.Distribution = "pareto" }, func(c *Config) { c.PendingPercent = 101 },
		func(c *Config) { c.IDOrder = "backwards" }, func(c *Config) { c.Clients = 0 },
		func(c *Config) { c.Transfers = 0 },
	} {
		c := Defaults()
		bad(&c)
		if c.Check() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestOutputsAndComparison(t *testing.T) {
	cfg := smallConfig()
	cfg.Rate = 100000 // open loop: scheduled batches
	r, err := Run(context.Background(), cfg, openTestTarget(t))
	if err != nil || !r.Validated || r.OfferedRate != 100000 {
		t.Fatalf("open-loop run: %+v %v", r, err)
	}
	r.Timeline = append(r.Timeline, SecondStats{Second: 1, Transfers: 5, P99MS: 1.5})
	var csv, html, cmp strings.Builder
	if err := WriteCSV(&csv, r); err != nil || !strings.HasPrefix(csv.String(), "second,transfers,p99_ms\n") ||
		!strings.Contains(csv.String(), "1,5,1.500") {
		t.Fatalf("csv %q %v", csv.String(), err)
	}
	if err := WriteHTML(&html, r); err != nil || !strings.Contains(html.String(), "<svg") ||
		strings.Contains(html.String(), "<script") || strings.Contains(html.String(), "http://") && !strings.Contains(html.String(), "www.w3.org") {
		t.Fatalf("html: %v", err)
	}
	b := *r
	b.TransfersPerSecond = r.TransfersPerSecond * 2
	WriteComparison(&cmp, r, &b)
	if !strings.Contains(cmp.String(), "+100.0%") {
		t.Fatalf("comparison:\n%s", cmp.String())
	}
}

func TestProgressBar(t *testing.T) {
	cases := []struct {
		done, total int64
		want        string
	}{
		{0, 10, "[..........]"}, {5, 10, "[#####.....]"}, {10, 10, "[##########]"}, {12, 10, "[##########]"}, {7, 0, "[7]"},
	}
	for _, c := range cases {
		if got := bar(c.done, c.total, 10); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}
