package vaulthttp

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// centerMetrics are the center server's Prometheus metrics.
type centerMetrics struct {
	rotations   prometheus.Counter
	rotationErr prometheus.Counter
	checks      prometheus.Counter
	tampered    prometheus.Counter
	repairs     prometheus.Counter
	repairErr   prometheus.Counter
	requests    *prometheus.CounterVec
}

func newCenterMetrics(reg prometheus.Registerer, c *vs.Center) (*centerMetrics, error) {
	m := &centerMetrics{
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_rotations_total", Help: "Handle rotations done.",
		}),
		rotationErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_rotation_failures_total", Help: "Handle rotations refused or failed.",
		}),
		checks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_monitor_checks_total", Help: "Tamper monitor passes run.",
		}),
		tampered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_tamper_detections_total", Help: "Monitor passes that found and froze tampered blocks.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_repair_runs_total", Help: "Repair bot runs completed.",
		}),
		repairErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_repair_failures_total", Help: "Repair bot runs that failed.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conto_vault_center_requests_total", Help: "Center API requests by endpoint and HTTP status.",
		}, []string{"endpoint", "status"}),
	}
	items := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "conto_vault_items", Help: "Items the center's block chain holds (latest authentic block per item).",
	}, func() float64 {
		n := 0
		c.Chain().Owners(func(chain.Owner) bool { n++; return true })
		return float64(n)
	})
	blocks := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "conto_vault_blocks", Help: "Blocks in the center's chain, genesis included.",
	}, func() float64 { return float64(c.Chain().Len()) })
	frozen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "conto_vault_frozen_blocks", Help: "Blocks frozen pending repair.",
	}, func() float64 { return float64(frozenBlocks(c.Chain().Frozen())) })
	epoch := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "conto_vault_handle_epoch", Help: "The center's current handle epoch.",
	}, func() float64 {
		e, err := c.Epoch(context.Background())
		if err != nil {
			return 0
		}
		return float64(e)
	})
	for _, col := range []prometheus.Collector{m.rotations, m.rotationErr, m.checks, m.tampered, m.repairs, m.repairErr, m.requests, items, blocks, frozen, epoch} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// frozenBlocks counts the blocks in the union of (possibly overlapping)
// ranges.
func frozenBlocks(rs []chain.Range) uint64 {
	slices.SortFunc(rs, func(a, b chain.Range) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	var n, end uint64
	for _, r := range rs {
		from := max(r.From, end)
		if r.To > from {
			n += r.To - from
		}
		end = max(end, r.To)
	}
	return n
}

// clusterMetrics are the cluster server's Prometheus metrics.
type clusterMetrics struct {
	stored    prometheus.Counter
	acquired  prometheus.Counter
	transfers *prometheus.CounterVec
	downloads prometheus.Counter
	offers    prometheus.Counter
	rekeys    prometheus.Counter
	requests  *prometheus.CounterVec
}

func newClusterMetrics(reg prometheus.Registerer, c *vs.Cluster) (*clusterMetrics, error) {
	m := &clusterMetrics{
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_cluster_items_stored_total", Help: "Items registered through this cluster.",
		}),
		acquired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_cluster_items_acquired_total", Help: "Items returned to their owners.",
		}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conto_vault_cluster_transfers_total", Help: "Transfers started, by scope (local or cross_cluster).",
		}, []string{"scope"}),
		downloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_cluster_downloads_total", Help: "Transfers completed by the recipient's download.",
		}),
		offers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_cluster_offers_total", Help: "Cross-cluster offers accepted from peers.",
		}),
		rekeys: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conto_vault_cluster_rekeys_total", Help: "Handle re-keys applied after a center rotation.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conto_vault_cluster_requests_total", Help: "Cluster API requests by route and HTTP status.",
		}, []string{"route", "status"}),
	}
	epoch := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "conto_vault_cluster_handle_epoch", Help: "The handle epoch of this cluster's body store.",
	}, func() float64 { return float64(c.Store().Epoch()) })
	for _, col := range []prometheus.Collector{m.stored, m.acquired, m.transfers, m.downloads, m.offers, m.rekeys, m.requests, epoch} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func metricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

func statusLabel(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return strconv.Itoa(code)
}
