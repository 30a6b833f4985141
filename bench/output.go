package bench

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"strings"
)

// WriteCSV writes the per-second timeline.
func WriteCSV(w io.Writer, r *Report) error {
	if _, err := fmt.Fprintln(w, "second,transfers,p99_ms"); err != nil {
		return err
	}
	for _, s := range r.Timeline {
		if _, err := fmt.Fprintf(w, "%d,%d,%.3f\n", s.Second, s.Transfers, s.P99MS); err != nil {
			return err
		}
	}
	return nil
}

// WriteHTML writes a self-contained report: the summary and two charts
// (throughput and p99 per second) as inline SVG, with no scripts or
// external resources, so it opens offline.
func WriteHTML(w io.Writer, r *Report) error {
	var summary strings.Builder
	WriteSummary(&summary, r)
	tps := make([]float64, len(r.Timeline))
	p99 := make([]float64, len(r.Timeline))
	for i, s := range r.Timeline {
		tps[i], p99[i] = float64(s.Transfers), s.P99MS
	}
	return htmlReport.Execute(w, map[string]any{
		"Summary": summary.String(),
		"TPS":     chart(tps, "transfers per second"),
		"P99":     chart(p99, "batch p99 (ms)"),
	})
}

// chart draws a polyline of values over seconds as an SVG.
func chart(values []float64, title string) template.HTML {
	const w, h, pad = 640.0, 200.0, 30.0
	maxV := 1.0
	for _, v := range values {
		maxV = max(maxV, v)
	}
	var pts strings.Builder
	for i, v := range values {
		x := pad
		if len(values) > 1 {
			x += float64(i) * (w - 2*pad) / float64(len(values)-1)
		}
		y := h - pad - v/maxV*(h-2*pad)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f">`+
		`<text x="%.0f" y="18" font-size="13">%s (max %.0f)</text>`+
		`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999"/>`+
		`<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="%s"/></svg>`,
		w, h, pad, template.HTMLEscapeString(title), maxV, pad, h-pad, w-pad, h-pad, pts.String()))
}

var htmlReport = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>conto bench</title>
<style>body{font-family:sans-serif;margin:2em} pre{background:#f6f8fa;padding:1em}</style></head>
<body><h1>conto bench</h1><pre>{{.Summary}}</pre>{{.TPS}}<br>{{.P99}}</body></html>
`))

// ReadReport reads a report written with --json.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// WriteComparison prints two reports side by side with the change from a
// to b.
func WriteComparison(w io.Writer, a, b *Report) {
	row := func(name string, x, y float64) {
		delta := "n/a"
		if x != 0 {
			delta = fmt.Sprintf("%+.1f%%", (y-x)/x*100)
		}
		fmt.Fprintf(w, "%-22s %14.2f %14.2f %10s\n", name, x, y, delta)
	}
	fmt.Fprintf(w, "%-22s %14s %14s %10s\n", "", "a", "b", "delta")
	row("transfers/s", a.TransfersPerSecond, b.TransfersPerSecond)
	row("batch p50 ms", a.BatchLatencyMS.P50, b.BatchLatencyMS.P50)
	row("batch p90 ms", a.BatchLatencyMS.P90, b.BatchLatencyMS.P90)
	row("batch p99 ms", a.BatchLatencyMS.P99, b.BatchLatencyMS.P99)
	row("batch p99.9 ms", a.BatchLatencyMS.P999, b.BatchLatencyMS.P999)
	row("batch max ms", a.BatchLatencyMS.P100, b.BatchLatencyMS.P100)
	row("transfers", float64(a.Transfers), float64(b.Transfers))
	if a.Batch != b.Batch || a.Accounts != b.Accounts || a.Distribution != b.Distribution || a.Clients != b.Clients {
		fmt.Fprintf(w, "note: the workloads differ: batch %d/%d, accounts %d/%d, %s/%s, clients %d/%d\n",
			a.Batch, b.Batch, a.Accounts, b.Accounts, a.Distribution, b.Distribution, a.Clients, b.Clients)
	}
}
