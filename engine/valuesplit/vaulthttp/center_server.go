package vaulthttp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// Center API paths. Every one is a JSON POST authenticated by the calling
// cluster's shared key; the request's "cluster" must be the key's cluster.
const (
	PathEpoch         = "/center/v1/epoch"
	PathAddUser       = "/center/v1/users"
	PathRegister      = "/center/v1/register"
	PathAcquire       = "/center/v1/acquire"
	PathPrepare       = "/center/v1/transfers/prepare"
	PathComplete      = "/center/v1/transfers/complete"
	PathCancel        = "/center/v1/transfers/cancel"
	PathStatus        = "/center/v1/transfers/status"
	PathMapping       = "/center/v1/mapping"
	PathAck           = "/center/v1/ack"
	PathHello         = "/center/v1/clusters/hello"
	PathLookup        = "/center/v1/clusters/lookup"
	PathAdminRotate   = "/center/v1/admin/rotate"
	PathAdminCheck    = "/center/v1/admin/check"
	PathAdminRepair   = "/center/v1/admin/repair"
	PathAdminFlags    = "/center/v1/admin/flags"
	DefaultCenterBody = 1 << 20
)

// Wire requests for the CenterAPI methods that take plain arguments.
type (
	epochRequest struct {
		Cluster string `json:"cluster"`
	}
	epochResponse struct {
		Epoch vs.Epoch `json:"epoch"`
	}
	addUserRequest struct {
		Cluster string `json:"cluster"`
		UserID  string `json:"user_id"`
		Email   string `json:"email"`
	}
	cancelRequest struct {
		Cluster string  `json:"cluster"`
		User    string  `json:"user"`
		ID      vs.OpID `json:"id"`
	}
	statusRequest struct {
		Cluster string  `json:"cluster"`
		ID      vs.OpID `json:"id"`
	}
	mappingRequest struct {
		Cluster string   `json:"cluster"`
		From    vs.Epoch `json:"from"`
	}
	ackRequest struct {
		Cluster string   `json:"cluster"`
		Epoch   vs.Epoch `json:"epoch"`
	}
	helloRequest struct {
		Cluster    string `json:"cluster"`
		URL        string `json:"url"`
		AdminEmail string `json:"admin_email,omitempty"`
	}
	lookupRequest struct {
		Cluster string `json:"cluster"`
		ID      string `json:"cluster_id,omitempty"`
		URL     string `json:"url,omitempty"`
	}
	okResponse struct {
		OK bool `json:"ok"`
	}
)

// RotateResult is the answer of the admin rotate endpoint. The mappings
// themselves stay at the center: each cluster fetches its own.
type RotateResult struct {
	From     vs.Epoch  `json:"from"`
	To       vs.Epoch  `json:"to"`
	At       time.Time `json:"at"`
	Clusters []string  `json:"clusters"`
}

// CheckResult is the answer of the admin check endpoint.
type CheckResult struct {
	// Tampered is set when the chain holds a tampered block (frozen now or
	// before); FirstBad names the first.
	Tampered bool `json:"tampered"`
	vs.MonitorReport
}

// RepairResult is the answer of the admin repair endpoint.
type RepairResult = vs.RepairResult

// CenterServerConfig configures the center's HTTP side.
type CenterServerConfig struct {
	// Center is the center core (required).
	Center *vs.Center
	// Monitor runs the tamper checks (optional: without it a check only
	// verifies the chain and freezes nothing).
	Monitor *vs.Monitor
	// Dir holds the cluster directory (required; the center's data
	// directory will do).
	Dir string
	// ClusterKeys maps each cluster id to the hash of its shared key. A
	// cluster without a key cannot call the center.
	ClusterKeys map[string]SecretHash
	// AdminToken is the hash of the operators' token (zero: the admin
	// endpoints refuse every request).
	AdminToken SecretHash
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the metrics and is served on /metrics (default: a
	// new registry).
	Registry *prometheus.Registry
	// MaxBody bounds request bodies (default DefaultCenterBody).
	MaxBody int64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// HoldUntilChecked makes the cluster endpoints answer 503 until the
	// first monitor pass (Check, or Run's first pass) has finished, so a
	// chain altered while the center was down is verified — and tampered
	// blocks frozen — before anything is served from it.
	HoldUntilChecked bool
}

// CenterServer is the center server's HTTP handler: the CenterAPI for
// clusters, the admin endpoints for operators, /healthz and /metrics.
type CenterServer struct {
	center  *vs.Center
	monitor *vs.Monitor
	dir     *directory
	keys    []clusterKey
	admin   SecretHash
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *centerMetrics
	maxBody int64
	now     func() time.Time
	mux     *http.ServeMux
	checkMu sync.Mutex  // one monitor pass at a time
	checked atomic.Bool // a monitor pass has finished (or no hold was asked)
}

type clusterKey struct {
	id   string
	hash SecretHash
}

// NewCenterServer builds the handler.
func NewCenterServer(cfg CenterServerConfig) (*CenterServer, error) {
	if cfg.Center == nil || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: center server needs a center and a directory", vs.ErrInvalid)
	}
	s := &CenterServer{center: cfg.Center, monitor: cfg.Monitor, admin: cfg.AdminToken, log: cfg.Logger,
		reg: cfg.Registry, maxBody: cfg.MaxBody, now: cfg.Now, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultCenterBody
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.checked.Store(!cfg.HoldUntilChecked)
	for id, h := range cfg.ClusterKeys {
		if err := vs.CheckID("cluster id", id); err != nil {
			return nil, err
		}
		if h.IsZero() {
			return nil, fmt.Errorf("%w: cluster %s has an empty key hash", vs.ErrInvalid, id)
		}
		for _, k := range s.keys {
			if k.hash == h {
				return nil, fmt.Errorf("%w: clusters %s and %s share a key", vs.ErrInvalid, k.id, id)
			}
		}
		s.keys = append(s.keys, clusterKey{id: id, hash: h})
	}
	var err error
	if s.dir, err = openDirectory(cfg.Dir); err != nil {
		return nil, err
	}
	if s.metrics, err = newCenterMetrics(s.reg, s.center); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.routes()
	return s, nil
}

func (s *CenterServer) routes() {
	c := s.center
	handle(s, PathEpoch, func(r *epochRequest) string { return r.Cluster },
		func(ctx context.Context, r *epochRequest) (epochResponse, error) {
			e, err := c.Epoch(ctx)
			return epochResponse{Epoch: e}, err
		})
	handle(s, PathAddUser, func(r *addUserRequest) string { return r.Cluster },
		func(ctx context.Context, r *addUserRequest) (vs.User, error) {
			return c.AddUser(ctx, r.UserID, r.Email)
		})
	handle(s, PathRegister, func(r *vs.RegisterRequest) string { return r.Cluster },
		func(ctx context.Context, r *vs.RegisterRequest) (vs.RegisterResult, error) {
			return c.Register(ctx, *r)
		})
	handle(s, PathAcquire, func(r *vs.AcquireRequest) string { return r.Cluster },
		func(ctx context.Context, r *vs.AcquireRequest) (vs.AcquireResult, error) { return c.Acquire(ctx, *r) })
	handle(s, PathPrepare, func(r *vs.PrepareTransferRequest) string { return r.Cluster },
		func(ctx context.Context, r *vs.PrepareTransferRequest) (vs.PrepareTransferResult, error) {
			return c.PrepareTransfer(ctx, *r)
		})
	handle(s, PathComplete, func(r *vs.CompleteTransferRequest) string { return r.Cluster },
		func(ctx context.Context, r *vs.CompleteTransferRequest) (vs.CompleteTransferResult, error) {
			return c.CompleteTransfer(ctx, *r)
		})
	handle(s, PathCancel, func(r *cancelRequest) string { return r.Cluster },
		func(ctx context.Context, r *cancelRequest) (okResponse, error) {
			return okResponse{true}, c.CancelTransfer(ctx, r.Cluster, r.User, r.ID)
		})
	handle(s, PathStatus, func(r *statusRequest) string { return r.Cluster },
		func(ctx context.Context, r *statusRequest) (vs.TransferStatus, error) {
			return c.TransferStatus(ctx, r.Cluster, r.ID)
		})
	handle(s, PathMapping, func(r *mappingRequest) string { return r.Cluster },
		func(ctx context.Context, r *mappingRequest) (vs.Mapping, error) {
			return c.Mapping(ctx, r.Cluster, r.From)
		})
	handle(s, PathAck, func(r *ackRequest) string { return r.Cluster },
		func(ctx context.Context, r *ackRequest) (okResponse, error) {
			return okResponse{true}, c.AckEpoch(ctx, r.Cluster, r.Epoch)
		})
	handle(s, PathHello, func(r *helloRequest) string { return r.Cluster },
		func(ctx context.Context, r *helloRequest) (ClusterEntry, error) {
			u, err := CheckClusterURL(r.URL)
			if err != nil {
				return ClusterEntry{}, err
			}
			if r.AdminEmail != "" {
				if err := vs.CheckEmail(r.AdminEmail); err != nil {
					return ClusterEntry{}, err
				}
			}
			e, err := s.dir.hello(c.Clusters(), r.Cluster, u, r.AdminEmail, s.now().UTC())
			if err == nil {
				s.log.Info("cluster announced", "cluster", r.Cluster, "url", u)
			}
			return e, err
		})
	handle(s, PathLookup, func(r *lookupRequest) string { return r.Cluster },
		func(ctx context.Context, r *lookupRequest) (ClusterEntry, error) {
			switch {
			case r.ID != "" && r.URL == "":
				if err := vs.CheckID("cluster id", r.ID); err != nil {
					return ClusterEntry{}, err
				}
				return s.dir.lookup(c.Clusters(), r.ID, "")
			case r.ID == "" && r.URL != "":
				u, err := CheckClusterURL(r.URL)
				if err != nil {
					return ClusterEntry{}, err
				}
				return s.dir.lookup(c.Clusters(), "", u)
			}
			return ClusterEntry{}, fmt.Errorf("%w: look a cluster up by cluster_id or by url", vs.ErrInvalid)
		})
	s.adminRoute(PathAdminRotate, func(ctx context.Context) (any, error) { return s.Rotate(ctx) })
	s.adminRoute(PathAdminCheck, func(ctx context.Context) (any, error) { return s.Check(ctx) })
	s.adminRoute(PathAdminRepair, func(ctx context.Context) (any, error) { return s.Repair(ctx) })
	s.mux.HandleFunc(PathAdminFlags, s.adminFlags)
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, http.MethodGet) {
			return
		}
		if _, err := s.center.Epoch(r.Context()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "center closed")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("/metrics", metricsHandler(s.reg))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
}

// ServeHTTP serves the center API.
func (s *CenterServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Registry returns the metrics registry.
func (s *CenterServer) Registry() *prometheus.Registry { return s.reg }

// authCluster returns the cluster whose key the request carries. Every key
// is compared, in constant time, whatever matches.
func (s *CenterServer) authCluster(r *http.Request) (string, bool) {
	tok, ok := bearer(r)
	if !ok {
		return "", false
	}
	h := HashSecret(tok)
	match := ""
	for _, k := range s.keys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			match = k.id
		}
	}
	return match, match != ""
}

// handle registers a cluster endpoint: POST, the cluster's key, a JSON
// request naming that cluster, a JSON answer.
func handle[Req, Res any](s *CenterServer, path string, clusterOf func(*Req) string, fn func(context.Context, *Req) (Res, error)) {
	name := path[len("/center/v1/"):]
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() { s.metrics.requests.WithLabelValues(name, statusLabel(rec.status)).Inc() }()
		if !allow(rec, r, http.MethodPost) {
			return
		}
		cluster, ok := s.authCluster(r)
		if !ok {
			writeError(rec, http.StatusUnauthorized, "unauthorized", "missing or unknown cluster key")
			return
		}
		if !s.checked.Load() {
			rec.Header().Set("Retry-After", "2")
			writeError(rec, http.StatusServiceUnavailable, "unavailable", "the center is verifying its chain")
			return
		}
		var req Req
		if err := decodeJSON(rec, r, s.maxBody, &req); err != nil {
			requestError(rec, err)
			return
		}
		if got := clusterOf(&req); got != cluster {
			writeError(rec, http.StatusForbidden, "forbidden", fmt.Sprintf("the key belongs to cluster %s, the request names %q", cluster, clip(got)))
			return
		}
		res, err := fn(r.Context(), &req)
		if err != nil {
			status, we := wireErrorOf(err)
			if status >= 500 {
				s.log.Warn("center request failed", "endpoint", name, "cluster", cluster, "err", err)
			}
			writeErrorBody(rec, status, we)
			return
		}
		writeJSON(rec, http.StatusOK, res)
	})
}

// FlagsRequest sets a user's or a cluster's valid flag (Figs. 17A/B): a
// disabled one can no longer register, acquire or transfer.
type FlagsRequest struct {
	User    string `json:"user,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Enabled bool   `json:"enabled"`
}

// adminFlags serves POST /center/v1/admin/flags.
func (s *CenterServer) adminFlags(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.metrics.requests.WithLabelValues("admin/flags", statusLabel(rec.status)).Inc() }()
	if !allow(rec, r, http.MethodPost) {
		return
	}
	if tok, ok := bearer(r); !ok || !s.admin.Matches(tok) {
		writeError(rec, http.StatusUnauthorized, "unauthorized", "missing or wrong admin token")
		return
	}
	b, err := readBody(rec, r, 1<<10)
	if err != nil {
		requestError(rec, err)
		return
	}
	var req FlagsRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || (req.User == "") == (req.Cluster == "") {
		writeError(rec, http.StatusBadRequest, "invalid", `give exactly one of "user" or "cluster", and "enabled"`)
		return
	}
	set := func(id string, on bool) error {
		if on {
			return s.center.Users().Enable(id)
		}
		return s.center.Users().Disable(id)
	}
	id := req.User
	if req.Cluster != "" {
		id = req.Cluster
		set = func(id string, on bool) error {
			if on {
				return s.center.Clusters().Enable(id)
			}
			return s.center.Clusters().Disable(id)
		}
	}
	if err := set(id, req.Enabled); err != nil {
		status, we := wireErrorOf(err)
		writeErrorBody(rec, status, we)
		return
	}
	s.log.Info("valid flag set", "user", req.User, "cluster", req.Cluster, "enabled", req.Enabled)
	writeJSON(rec, http.StatusOK, req)
}

// adminRoute registers an operator endpoint: POST with the admin token and
// an empty (or {}) body.
func (s *CenterServer) adminRoute(path string, fn func(context.Context) (any, error)) {
	name := path[len("/center/v1/"):]
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() { s.metrics.requests.WithLabelValues(name, statusLabel(rec.status)).Inc() }()
		if !allow(rec, r, http.MethodPost) {
			return
		}
		tok, ok := bearer(r)
		if !ok || !s.admin.Matches(tok) {
			writeError(rec, http.StatusUnauthorized, "unauthorized", "missing or wrong admin token")
			return
		}
		b, err := readBody(rec, r, 1<<10)
		if err != nil {
			requestError(rec, err)
			return
		}
		if t := string(b); t != "" && t != "{}" && t != "{}\n" {
			writeError(rec, http.StatusBadRequest, "invalid", "admin requests take no body")
			return
		}
		res, err := fn(r.Context())
		if err != nil {
			status, we := wireErrorOf(err)
			s.log.Warn("admin request failed", "endpoint", name, "err", err)
			writeErrorBody(rec, status, we)
			return
		}
		writeJSON(rec, http.StatusOK, res)
	})
}

// Rotate moves the center to a new handle epoch now. The clusters fetch
// their mappings themselves (their next request meets ErrStaleEpoch, or
// their sync loop sees the new epoch).
func (s *CenterServer) Rotate(ctx context.Context) (RotateResult, error) {
	rot, err := s.center.Rotate(ctx)
	if err != nil {
		s.metrics.rotationErr.Inc()
		return RotateResult{}, err
	}
	s.metrics.rotations.Inc()
	res := RotateResult{From: rot.From, To: rot.To, At: rot.At, Clusters: []string{}}
	for id := range rot.Mappings {
		res.Clusters = append(res.Clusters, id)
	}
	slices.Sort(res.Clusters)
	s.log.Info("handles rotated", "from", rot.From, "to", rot.To, "clusters", len(res.Clusters))
	return res, nil
}

// Check runs one tamper-monitor pass now: with a Monitor it freezes what
// it finds and sends the alerts; without, it only verifies.
func (s *CenterServer) Check(ctx context.Context) (CheckResult, error) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	defer s.checked.Store(true) // even a failed pass releases the hold: it was logged
	var rep vs.MonitorReport
	var err error
	if s.monitor != nil {
		rep, err = s.monitor.Check(ctx)
	} else {
		rep.At = s.now().UTC()
		rep.Verify, err = s.center.Verify(ctx)
		rep.FirstBad = rep.Verify.FirstBad
	}
	if err != nil {
		return CheckResult{}, err
	}
	s.metrics.checks.Inc()
	if rep.Froze != nil {
		s.metrics.tampered.Inc()
		undelivered := 0
		for _, a := range rep.Alerts {
			if a.Error != "" {
				undelivered++
			}
		}
		s.log.Error("tampered block found; blocks frozen", "first_bad", rep.FirstBad.String(),
			"from", rep.Froze.Range.From, "to", rep.Froze.Range.To, "items", len(rep.Froze.Items),
			"alerts", len(rep.Alerts), "undelivered", undelivered)
	} else if rep.FirstBad != nil {
		s.log.Warn("chain still holds a tampered block; run repair", "first_bad", rep.FirstBad.String())
	}
	return CheckResult{Tampered: rep.Tampered(), MonitorReport: rep}, nil
}

// Repair runs the repair bot now.
func (s *CenterServer) Repair(ctx context.Context) (RepairResult, error) {
	s.checkMu.Lock() // not in the middle of a freeze
	defer s.checkMu.Unlock()
	res, err := s.center.Repair(ctx)
	if err != nil {
		s.metrics.repairErr.Inc()
		return res, err
	}
	s.metrics.repairs.Inc()
	s.log.Info("repair finished", "from", res.From, "rebuilt", len(res.Rebuilt), "from_book", res.FromBook,
		"relinked", len(res.Relinked), "lost", len(res.Lost))
	return res, nil
}

// Schedule says how often the center's background jobs run; zero disables
// a job.
type Schedule struct {
	RotateEvery time.Duration
	CheckEvery  time.Duration
}

// Run runs the scheduled rotations and monitor passes until ctx ends; the
// first monitor pass runs at once (a chain altered while the center was
// down is found at start). It returns when both jobs stopped.
func (s *CenterServer) Run(ctx context.Context, sch Schedule) {
	var wg sync.WaitGroup
	if sch.CheckEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, sch.CheckEvery, true, func() {
				if _, err := s.Check(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("monitor pass failed", "err", err)
				}
			})
		}()
	}
	if sch.RotateEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, sch.RotateEvery, false, func() {
				if _, err := s.Rotate(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("scheduled rotation failed", "err", err)
				}
			})
		}()
	}
	wg.Wait()
}

// every calls fn every d until ctx ends (and once at once if now).
func every(ctx context.Context, d time.Duration, now bool, fn func()) {
	if now {
		fn()
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
