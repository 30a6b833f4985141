// Package bench is the load generator behind `conto bench`: workloads,
// latency histograms, the validation model and reports (SPEC §6).
package bench
