package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// WriteSummary prints the human summary: a header saying where the figures
// come from, then the results.
func WriteSummary(w io.Writer, r *Report) {
	host, _ := os.Hostname()
	rev := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(w, "conto bench  host %s  %s/%s  %d cores  %s  commit %s\n", host, runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.Version(), rev)
	fmt.Fprintf(w, "target %s  fsync: Raft log on every append (group commit)  accounts %d  batch %d  clients %d  %s  pending %d%%\n",
		r.Target, r.Accounts, r.Batch, r.Clients, r.Distribution, r.PendingPercent)
	fmt.Fprintf(w, "transfers %d in %.2fs: %.0f transfers/s", r.Transfers, r.Seconds, r.TransfersPerSecond)
	if r.Failed > 0 {
		fmt.Fprintf(w, " (%d events failed)", r.Failed)
	}
	l := r.BatchLatencyMS
	fmt.Fprintf(w, "\nbatch latency ms  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.P100)
	switch {
	case r.Validated:
		fmt.Fprintln(w, "validated: every acknowledged transfer present, balances equal the model, conservation holds")
	case r.ValidationError != "":
		fmt.Fprintln(w, "VALIDATION FAILED:", r.ValidationError)
	}
}
