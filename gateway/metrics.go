package gateway

import (
	"strconv"
	"time"

	"github.com/conto-ledger/conto/transactor"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// metrics are the server's Prometheus metrics, on a registry of its own.
type metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	batchEvents  *prometheus.HistogramVec
	commitTime   *prometheus.HistogramVec
	batchRequest *prometheus.HistogramVec
	handler      fasthttp.RequestHandler
}

func newMetrics(node *transactor.Node) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conto_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conto_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"route"})
	m.batchEvents = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conto_batch_events", Help: "Events per coalesced batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 64, 256, 1024, 4096, 8189},
	}, []string{"kind"})
	m.batchRequest = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conto_batch_requests", Help: "Requests coalesced into one batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 64, 256, 1024, 4096},
	}, []string{"kind"})
	m.commitTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conto_commit_seconds", Help: "Time to commit a coalesced batch (Raft, fsync, apply).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"kind"})
	m.registry.MustRegister(m.requests, m.latency, m.batchEvents, m.batchRequest, m.commitTime,
		&raftCollector{node: node}, prometheus.NewGoCollector())
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	return m
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observeBatch(kind string, events, requests int, d time.Duration) {
	m.batchEvents.WithLabelValues(kind).Observe(float64(events))
	m.batchRequest.WithLabelValues(kind).Observe(float64(requests))
	m.commitTime.WithLabelValues(kind).Observe(d.Seconds())
}

// raftCollector reports each partition's Raft role, its apply lag (entries
// committed but not yet applied to the store) and the store's version.
type raftCollector struct{ node *transactor.Node }

var (
	descLeader  = prometheus.NewDesc("conto_raft_leader", "1 if this node leads the partition.", []string{"partition"}, nil)
	descState   = prometheus.NewDesc("conto_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.", []string{"partition"}, nil)
	descLag     = prometheus.NewDesc("conto_raft_apply_lag", "Committed entries not yet applied.", []string{"partition"}, nil)
	descVersion = prometheus.NewDesc("conto_store_applied_version", "Version of the last batch applied.", []string{"partition"}, nil)
)

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLeader
	ch <- descState
	ch <- descLag
	ch <- descVersion
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	for i, p := range c.node.Partitions() {
		label := strconv.Itoa(i)
		r := p.Raft()
		leader := 0.0
		if r.State() == raft.Leader {
			leader = 1
		}
		ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader, label)
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, float64(r.State()), label)
		commit, _ := strconv.ParseUint(r.Stats()["commit_index"], 10, 64)
		applied := r.AppliedIndex()
		lag := 0.0
		if commit > applied {
			lag = float64(commit - applied)
		}
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag, label)
		ch <- prometheus.MustNewConstMetric(descVersion, prometheus.GaugeValue, float64(p.Store().Applied()), label)
	}
}
