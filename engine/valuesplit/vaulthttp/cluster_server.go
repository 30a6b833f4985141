package vaulthttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// Cluster API paths (SPEC §7).
const (
	PathUsers     = "/v1/users"
	PathValues    = "/v1/values"
	PathDownloads = "/v1/downloads/" // + token: the download_url of a transfer
)

// DefaultMaxItemBody is the SPEC's item limit: 64 MiB.
const DefaultMaxItemBody = vs.MaxItemSize

// ClusterServerConfig configures a cluster's HTTP side.
type ClusterServerConfig struct {
	// Cluster is the cluster core (required).
	Cluster *vs.Cluster
	// Center is the center (required): users are created there, and
	// readiness asks it for its epoch.
	Center vs.CenterAPI
	// Directory finds other clusters by URL and id (optional: without it,
	// transfers name clusters by id and download URLs of other clusters
	// cannot be built).
	Directory Directory
	// Users holds the users' token hashes (required).
	Users *UserTokens
	// AdminToken is the hash of the token that creates users (zero: no one
	// can create users).
	AdminToken SecretHash
	// PeerKey is the hash of the key other clusters offer bodies with
	// (zero: cross-cluster transfers to this cluster are refused).
	PeerKey SecretHash
	// PublicURL is where users and peers reach this server (required).
	PublicURL string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the metrics and is served on /metrics (default: a
	// new registry).
	Registry *prometheus.Registry
	// MaxBody bounds an item upload (default DefaultMaxItemBody).
	MaxBody int64
	// MaxInflight bounds the uploads, downloads and offers handled at once
	// — each holds a whole item in memory (default 8).
	MaxInflight int
	// TransferTTL is how long a transfer waits for its download (0: the
	// center's default).
	TransferTTL time.Duration
}

// ClusterServer is the cluster server's HTTP handler: SPEC §7 for users,
// the peer offer endpoint for other clusters, /healthz, /readyz and
// /metrics.
type ClusterServer struct {
	cfg     ClusterServerConfig
	cluster *vs.Cluster
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *clusterMetrics
	slots   chan struct{}
	mux     *http.ServeMux
	userMu  sync.Mutex // serialises user creation
}

// NewClusterServer builds the handler.
func NewClusterServer(cfg ClusterServerConfig) (*ClusterServer, error) {
	if cfg.Cluster == nil || cfg.Center == nil || cfg.Users == nil {
		return nil, fmt.Errorf("%w: cluster server needs a cluster, a center and a user token store", vs.ErrInvalid)
	}
	u, err := CheckClusterURL(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("public URL: %w", err)
	}
	cfg.PublicURL = u
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxItemBody
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 8
	}
	s := &ClusterServer{cfg: cfg, cluster: cfg.Cluster, log: cfg.Logger, reg: cfg.Registry,
		slots: make(chan struct{}, cfg.MaxInflight), mux: http.NewServeMux()}
	if s.metrics, err = newClusterMetrics(s.reg, s.cluster); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.route("users", PathUsers, s.users)
	s.route("values", PathValues, s.values)
	s.route("value", PathValues+"/{id}", s.value)
	s.route("transfer", PathValues+"/{id}/transfer", s.transfer)
	s.route("download", PathDownloads+"{token}", s.download)
	s.route("peer_offer", PathPeerOffer, s.offer)
	s.route("healthz", "/healthz", func(w http.ResponseWriter, r *http.Request) {
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	})
	s.route("readyz", "/readyz", s.ready)
	s.mux.Handle("/metrics", metricsHandler(s.reg))
	s.route("unknown", "/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return s, nil
}

// ServeHTTP serves the cluster API.
func (s *ClusterServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Registry returns the metrics registry.
func (s *ClusterServer) Registry() *prometheus.Registry { return s.reg }

func (s *ClusterServer) route(name, pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() { s.metrics.requests.WithLabelValues(name, statusLabel(rec.status)).Inc() }()
		h(rec, r)
	})
}

// user authenticates a user request.
func (s *ClusterServer) user(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := bearer(r)
	if ok {
		if u, ok := s.cfg.Users.User(tok); ok {
			return u, true
		}
	}
	writeError(w, http.StatusUnauthorized, "unauthorized", "missing or unknown token")
	return "", false
}

// slot waits for a bulk-request slot.
func (s *ClusterServer) slot(w http.ResponseWriter, r *http.Request) (func(), bool) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, true
	case <-r.Context().Done():
		writeError(w, http.StatusServiceUnavailable, "unavailable", "server busy")
		return nil, false
	}
}

// fail answers a library error to a user. 4xx answers carry the library's
// message; anything else is logged and answered without detail (center
// internals do not reach users).
func (s *ClusterServer) fail(w http.ResponseWriter, route string, err error) {
	status, code := classify(err)
	switch code {
	case "invalid", "too_large", "not_found", "exists", "disabled", "locked", "expired", "conflict":
		writeError(w, status, code, err.Error())
		return
	case "frozen":
		writeError(w, http.StatusServiceUnavailable, "frozen", "the item is frozen pending repair; try again later")
		return
	case "unavailable", "timeout", "canceled", "closed", "stale_epoch", "lagging":
		s.log.Warn("cluster request failed", "route", route, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the vault is unavailable; try again")
		return
	}
	s.log.Error("cluster request failed", "route", route, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

type newUserRequest struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

type newUserResponse struct {
	UserID string `json:"user_id"`
	Token  string `json:"token"`
}

// users is POST /v1/users (admin token).
func (s *ClusterServer) users(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	if tok, ok := bearer(r); !ok || !s.cfg.AdminToken.Matches(tok) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong admin token")
		return
	}
	var req newUserRequest
	if err := decodeJSON(w, r, 4<<10, &req); err != nil {
		requestError(w, err)
		return
	}
	if err := vs.CheckID("user_id", req.UserID); err != nil {
		s.fail(w, "users", err)
		return
	}
	if err := vs.CheckEmail(req.Email); err != nil {
		s.fail(w, "users", err)
		return
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	if s.cfg.Users.Has(req.UserID) {
		s.fail(w, "users", fmt.Errorf("%w: user %s", vs.ErrExists, req.UserID))
		return
	}
	// Users are global at the center. One created through another cluster
	// gets a token here too: this cluster's administrator vouches for them,
	// and the items of a user are bound to the cluster holding them.
	if _, err := s.cfg.Center.AddUser(r.Context(), req.UserID, req.Email); err != nil && !errors.Is(err, vs.ErrExists) {
		s.fail(w, "users", err)
		return
	}
	tok, err := s.cfg.Users.Issue(req.UserID)
	if err != nil {
		s.fail(w, "users", err)
		return
	}
	writeJSON(w, http.StatusCreated, newUserResponse{UserID: req.UserID, Token: tok})
}

type valueCreated struct {
	ID    vs.ItemID `json:"value_id"`
	Name  string    `json:"name"`
	Size  int64     `json:"size"`
	Block uint64    `json:"block"`
}

type valueListed struct {
	ID      vs.ItemID `json:"value_id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	Block   uint64    `json:"block"`
	Created time.Time `json:"created_at"`
}

// values is POST /v1/values?name= and GET /v1/values.
func (s *ClusterServer) values(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost, http.MethodGet) {
		return
	}
	user, ok := s.user(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		infos, err := s.cluster.List(r.Context(), user)
		if err != nil {
			s.fail(w, "values", err)
			return
		}
		out := make([]valueListed, 0, len(infos))
		for _, in := range infos {
			out = append(out, valueListed{ID: in.ID, Name: in.Name, Size: in.Size, Block: in.Block, Created: in.Created})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	q := r.URL.Query()
	if len(q["name"]) != 1 {
		writeError(w, http.StatusBadRequest, "invalid", "give the item's name once: POST /v1/values?name=NAME")
		return
	}
	name := q.Get("name")
	if err := vs.CheckName(name); err != nil {
		s.fail(w, "values", err)
		return
	}
	done, ok := s.slot(w, r)
	if !ok {
		return
	}
	defer done()
	data, err := s.itemBytes(w, r)
	if err != nil {
		return
	}
	info, err := s.cluster.Put(r.Context(), user, name, data)
	clear(data)
	if err != nil {
		s.fail(w, "values", err)
		return
	}
	s.metrics.stored.Inc()
	writeJSON(w, http.StatusCreated, valueCreated{ID: info.ID, Name: info.Name, Size: info.Size, Block: info.Block})
}

// itemBytes returns the item a POST /v1/values registers: the body, or
// with ?generate=note&amount=N&currency=C an electronic-money note the
// cluster generates (the body must then be empty). It answers the error
// itself.
func (s *ClusterServer) itemBytes(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	q := r.URL.Query()
	if !q.Has("generate") {
		data, err := readBody(w, r, s.cfg.MaxBody)
		if err != nil {
			requestError(w, err)
		}
		return data, err
	}
	if q.Get("generate") != "note" || r.ContentLength > 0 {
		writeError(w, http.StatusBadRequest, "invalid", "generate=note takes amount and currency, and no body")
		return nil, vs.ErrInvalid
	}
	amount, err := strconv.ParseUint(q.Get("amount"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "amount must be a positive decimal integer")
		return nil, vs.ErrInvalid
	}
	data, err := vs.GenerateNote(s.cluster.ID(), amount, q.Get("currency"), time.Now(), nil)
	if err != nil {
		s.fail(w, "values", err)
	}
	return data, err
}

// itemID parses the {id} path value; a malformed id is an item no one owns.
func itemID(w http.ResponseWriter, r *http.Request) (vs.ItemID, bool) {
	id, err := vs.ParseItemID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such value")
		return id, false
	}
	return id, true
}

// value is GET /v1/values/{id}: the owner's bytes; 404 for anyone else.
func (s *ClusterServer) value(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	user, ok := s.user(w, r)
	if !ok {
		return
	}
	id, ok := itemID(w, r)
	if !ok {
		return
	}
	done, ok := s.slot(w, r)
	if !ok {
		return
	}
	defer done()
	data, info, err := s.cluster.Get(r.Context(), user, id)
	if err != nil {
		s.fail(w, "value", err)
		return
	}
	s.metrics.acquired.Inc()
	writeItem(w, info.Name, data)
}

// writeItem answers an item's bytes.
func writeItem(w http.ResponseWriter, name string, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if cd := mime.FormatMediaType("attachment", map[string]string{"filename": name}); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	clear(data)
}

type transferRequest struct {
	ToUser    string `json:"to_user"`
	ToCluster string `json:"to_cluster,omitempty"`
}

type transferResponse struct {
	DownloadURL string    `json:"download_url"`
	Expires     time.Time `json:"expires_at"`
	// NotifyError is set when the recipient's notice could not be sent;
	// the download URL works anyway.
	NotifyError string `json:"notify_error,omitempty"`
}

// transfer is POST /v1/values/{id}/transfer.
func (s *ClusterServer) transfer(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	user, ok := s.user(w, r)
	if !ok {
		return
	}
	id, ok := itemID(w, r)
	if !ok {
		return
	}
	var req transferRequest
	if err := decodeJSON(w, r, 4<<10, &req); err != nil {
		requestError(w, err)
		return
	}
	if err := vs.CheckID("to_user", req.ToUser); err != nil {
		s.fail(w, "transfer", err)
		return
	}
	to, err := s.resolveCluster(r.Context(), req.ToCluster)
	if err != nil {
		s.fail(w, "transfer", err)
		return
	}
	done, ok := s.slot(w, r)
	if !ok {
		return
	}
	defer done()
	tk, err := s.cluster.Transfer(r.Context(), vs.TransferStart{Item: id, From: user, To: req.ToUser, ToCluster: to, TTL: s.cfg.TransferTTL})
	if err != nil {
		s.fail(w, "transfer", err)
		return
	}
	scope := "local"
	if tk.Cluster != s.cluster.ID() {
		scope = "cross_cluster"
	}
	s.metrics.transfers.WithLabelValues(scope).Inc()
	base, err := s.clusterURL(r.Context(), tk.Cluster)
	if err != nil {
		// The transfer stands (the recipient was notified if a notifier
		// is configured); the sender just cannot be given the link.
		s.fail(w, "transfer", fmt.Errorf("transfer started but the recipient cluster's URL is unknown: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, transferResponse{DownloadURL: downloadURL(base, tk.Token), Expires: tk.Expires.UTC(), NotifyError: tk.NotifyError})
}

// resolveCluster turns the SPEC's to_cluster (a URL; a cluster id is
// accepted too) into a cluster id; empty means this cluster.
func (s *ClusterServer) resolveCluster(ctx context.Context, to string) (string, error) {
	if to == "" {
		return "", nil
	}
	if !strings.Contains(to, "://") {
		return to, vs.CheckID("to_cluster", to)
	}
	u, err := CheckClusterURL(to)
	if err != nil {
		return "", err
	}
	if u == s.cfg.PublicURL {
		return "", nil
	}
	if s.cfg.Directory == nil {
		return "", fmt.Errorf("%w: this cluster has no directory of other clusters", vs.ErrInvalid)
	}
	e, err := s.cfg.Directory.LookupCluster(ctx, "", u)
	if err != nil {
		return "", fmt.Errorf("to_cluster: %w", err)
	}
	return e.ID, nil
}

// clusterURL returns the public URL of cluster id.
func (s *ClusterServer) clusterURL(ctx context.Context, id string) (string, error) {
	if id == s.cluster.ID() {
		return s.cfg.PublicURL, nil
	}
	if s.cfg.Directory == nil {
		return "", fmt.Errorf("%w: no directory of other clusters", vs.ErrNotFound)
	}
	e, err := s.cfg.Directory.LookupCluster(ctx, id, "")
	if err != nil {
		return "", err
	}
	return e.URL, nil
}

// download is GET {download_url}: the recipient's token; the item's bytes;
// ownership moves to the recipient.
func (s *ClusterServer) download(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	user, ok := s.user(w, r)
	if !ok {
		return
	}
	done, ok := s.slot(w, r)
	if !ok {
		return
	}
	defer done()
	data, info, err := s.cluster.Download(r.Context(), user, r.PathValue("token"))
	if err != nil {
		s.fail(w, "download", err)
		return
	}
	s.metrics.downloads.Inc()
	writeItem(w, info.Name, data)
}

// offer is the peer endpoint: another cluster delivers a cross-cluster
// transfer's body.
func (s *ClusterServer) offer(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	if tok, ok := bearer(r); !ok || !s.cfg.PeerKey.Matches(tok) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong peer key")
		return
	}
	o, err := decodeOfferMeta(r.Header.Get(OfferHeader))
	if err != nil {
		requestError(w, err)
		return
	}
	done, ok := s.slot(w, r)
	if !ok {
		return
	}
	defer done()
	body, err := readBody(w, r, vs.MaxOfferBody)
	if err != nil {
		requestError(w, err)
		return
	}
	o.Body = body
	tk, err := s.cluster.Offer(r.Context(), o)
	if err != nil {
		status, we := wireErrorOf(err)
		if status >= 500 {
			s.log.Warn("peer offer failed", "from", o.FromCluster, "err", err)
		}
		writeErrorBody(w, status, we)
		return
	}
	s.metrics.offers.Inc()
	writeJSON(w, http.StatusOK, tk)
}

// ready answers 200 when the center answers.
func (s *ClusterServer) ready(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if _, err := s.cfg.Center.Epoch(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "center not reachable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ClusterSchedule says how often a cluster's background jobs run; zero
// disables a job.
type ClusterSchedule struct {
	// SyncEvery polls the center's epoch and re-keys the store after a
	// rotation (the sooner, the sooner the center refuses the old mapping
	// to anyone else).
	SyncEvery time.Duration
	// SettleEvery reconciles pending transfers (locks of expired
	// transfers, items that moved away, expired download tickets).
	SettleEvery time.Duration
}

// Run runs the background jobs until ctx ends.
func (s *ClusterServer) Run(ctx context.Context, sch ClusterSchedule) {
	var wg sync.WaitGroup
	if sch.SyncEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, sch.SyncEvery, true, func() {
				if err := s.SyncIfRotated(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("handle sync failed", "err", err)
				}
			})
		}()
	}
	if sch.SettleEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, sch.SettleEvery, false, func() {
				res, err := s.cluster.Settle(ctx)
				if err != nil && ctx.Err() == nil {
					s.log.Warn("settling transfers failed", "err", err)
				}
				if res != (vs.SettleResult{}) {
					s.log.Info("transfers settled", "released", res.Released, "moved_away", res.MovedAway,
						"completed", res.Completed, "expired", res.Expired)
				}
			})
		}()
	}
	wg.Wait()
}

// SyncIfRotated re-keys the store if the center moved to a new epoch.
func (s *ClusterServer) SyncIfRotated(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	e, err := s.cfg.Center.Epoch(cctx)
	cancel()
	if err != nil {
		return err
	}
	if e == s.cluster.Store().Epoch() {
		return nil
	}
	return s.Sync(ctx)
}

// Sync brings the store to the center's epoch now.
func (s *ClusterServer) Sync(ctx context.Context) error {
	res, err := s.cluster.Sync(ctx)
	if err != nil {
		return err
	}
	if res.From != res.To && !res.AlreadyApplied {
		s.metrics.rekeys.Inc()
		s.log.Info("handles re-keyed", "from", res.From, "to", res.To, "records", res.Rekeyed, "dropped", len(res.Dropped))
	}
	return nil
}
