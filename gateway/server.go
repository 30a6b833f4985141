package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/conto-ledger/conto/gateway/wire"
	"github.com/conto-ledger/conto/transactor"
	"github.com/valyala/fasthttp"
)

// Config configures the HTTP server.
type Config struct {
	Engine *engine.Engine
	Node   *transactor.Node
	Logger *slog.Logger
	// MaxBodySize bounds a request body; default 8 MiB (a JSON batch of
	// 8189 transfers is about 2.5 MiB).
	MaxBodySize int
	// Timeouts; zero means the default in brackets.
	ReadTimeout    time.Duration // [10s] to read a request
	WriteTimeout   time.Duration // [30s] to write a response
	IdleTimeout    time.Duration // [60s] keep-alive
	RequestTimeout time.Duration // [30s] to commit or read
	// Coalescing: concurrent requests are merged into batches of at most
	// BatchEvents events [8189]. A batch takes the requests queued while
	// earlier batches commit; with BatchWindow > 0 [0] it also waits that
	// long after its first request for more to join it.
	BatchEvents int
	BatchWindow time.Duration
	// APIKeys, when not empty, are required ("Authorization: Bearer") on
	// every call but /healthz and /readyz.
	APIKeys []KeyHash
	// Handoff, if set, carries the coalesced batches to the engine over
	// shared-memory rings (DESIGN: batcher → ring → worker) instead of
	// calling Engine directly.
	Handoff *Handoff
	// Mount, when it accepts a path, hands the request to Mounted instead
	// of the ledger's API (conto serve's split-storage module). It runs
	// before the ledger's API keys are checked: the mounted handler
	// authenticates its own callers. MountedBodySize is its body limit.
	Mount           func(path string) bool
	Mounted         fasthttp.RequestHandler
	MountedBodySize int
	// PrivateChains shows an account's chain with only its counterparties'
	// commitments, never their heads, and serves no chain blocks.
	PrivateChains bool
}

// Server serves the API of SPEC §3-§4.
type Server struct {
	cfg       Config
	srv       *fasthttp.Server
	reqID     atomic.Uint64
	accounts  *batcher[ledger.Account]
	transfers *batcher[ledger.Transfer]
	metrics   *metrics
}

// New returns a server; Serve starts it.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	setDefault(&cfg.MaxBodySize, 8<<20)
	setDefault(&cfg.ReadTimeout, 10*time.Second)
	setDefault(&cfg.WriteTimeout, 30*time.Second)
	setDefault(&cfg.IdleTimeout, 60*time.Second)
	setDefault(&cfg.RequestTimeout, 30*time.Second)
	setDefault(&cfg.BatchEvents, ledger.MaxBatchEvents)
	cfg.BatchEvents = min(cfg.BatchEvents, ledger.MaxBatchEvents)
	s := &Server{cfg: cfg}
	commitAccounts, commitTransfers := cfg.Engine.CreateAccounts, cfg.Engine.CreateTransfers
	if cfg.Handoff != nil {
		commitAccounts, commitTransfers = cfg.Handoff.CreateAccounts, cfg.Handoff.CreateTransfers
	}
	s.accounts = newBatcher(commitAccounts,
		func(a *ledger.Account) bool { return a.Flags&ledger.AccountLinked != 0 }, cfg.BatchEvents, cfg.BatchWindow)
	s.transfers = newBatcher(commitTransfers,
		func(t *ledger.Transfer) bool { return t.Flags&ledger.TransferLinked != 0 }, cfg.BatchEvents, cfg.BatchWindow)
	s.metrics = newMetrics(cfg.Node)
	s.accounts.observe = func(e, r int, d time.Duration) { s.metrics.observeBatch("accounts", e, r, d) }
	s.transfers.observe = func(e, r int, d time.Duration) { s.metrics.observeBatch("transfers", e, r, d) }
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		Name:               "conto",
		MaxRequestBodySize: max(cfg.MaxBodySize, cfg.MountedBodySize),
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		Concurrency:        16 << 10,
		Logger:             fasthttpLogger{cfg.Logger},
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				drainBody(ctx)
				writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
					fmt.Sprintf("request body exceeds %d bytes", cfg.MaxBodySize))
				return
			}
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "malformed HTTP request")
		},
	}
	return s
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting, waits for requests in progress (their batches
// commit), then stops the batchers.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	s.accounts.close()
	s.transfers.close()
	return err
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "http")
}

// handle routes a request. Paths are /v1/<collection>[/<id>[/<sub>]].
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	id := string(ctx.Request.Header.Peek("X-Request-Id"))
	if id == "" {
		id = strconv.FormatUint(s.reqID.Add(1), 10)
	}
	ctx.Response.Header.Set("X-Request-Id", id)
	start := time.Now()
	method, path := string(ctx.Method()), string(ctx.Path())
	parts := strings.Split(strings.Trim(path, "/"), "/")
	route := "GET " + path
	switch {
	case path == "/healthz" && method == "GET":
		writeJSON(ctx, 200, map[string]string{"status": "ok"})
	case path == "/readyz" && method == "GET":
		s.readyz(ctx)
	case s.cfg.Mount != nil && s.cfg.Mount(path):
		route = "mounted"
		s.cfg.Mounted(ctx)
	case len(ctx.PostBody()) > s.cfg.MaxBodySize:
		route = "too large"
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodySize))
	case len(s.cfg.APIKeys) > 0 && !authorized(ctx, s.cfg.APIKeys):
		route = "unauthorized"
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="conto"`)
		writeError(ctx, 401, "unauthorized", "a valid API key is required: Authorization: Bearer <key>")
	case path == "/metrics" && method == "GET":
		s.metrics.handler(ctx)
	case len(parts) < 2 || parts[0] != "v1":
		route = "unknown"
		writeError(ctx, 404, "not_found", "no such endpoint: "+method+" "+path)
	default:
		route = s.route(ctx, method, parts[1:])
	}
	s.metrics.observeRequest(route, ctx.Response.StatusCode(), time.Since(start))
	if code := ctx.Response.StatusCode(); code >= 500 {
		s.cfg.Logger.Warn("request failed", "request_id", id, "method", method, "path", path, "status", code)
	}
}

// route serves an API request and returns its route template, the label
// of its metrics (bounded: ids and keys are not part of it).
func (s *Server) route(ctx *fasthttp.RequestCtx, method string, p []string) string {
	switch {
	case method == "POST" && len(p) == 1 && p[0] == "accounts":
		s.createAccounts(ctx)
		return "POST /v1/accounts"
	case method == "POST" && len(p) == 1 && p[0] == "transfers":
		s.createTransfers(ctx)
		return "POST /v1/transfers"
	case method == "POST" && len(p) == 2 && p[1] == "lookup" && (p[0] == "accounts" || p[0] == "transfers"):
		s.lookup(ctx, p[0])
		return "POST /v1/" + p[0] + "/lookup"
	case method == "GET" && len(p) == 2 && p[0] == "accounts":
		s.getAccount(ctx, p[1])
		return "GET /v1/accounts/{id}"
	case method == "GET" && len(p) == 2 && p[0] == "transfers":
		s.getTransfer(ctx, p[1])
		return "GET /v1/transfers/{id}"
	case method == "GET" && len(p) == 3 && p[0] == "transfers" && p[2] == "proof":
		s.transferProof(ctx, p[1])
		return "GET /v1/transfers/{id}/proof"
	case method == "POST" && len(p) == 3 && p[0] == "transfers" && p[2] == "corrections":
		s.correctTransfer(ctx, p[1])
		return "POST /v1/transfers/{id}/corrections"
	case method == "GET" && len(p) == 3 && p[0] == "accounts" && p[2] == "chain":
		s.accountChain(ctx, p[1])
		return "GET /v1/accounts/{id}/chain"
	case method == "GET" && len(p) == 2 && p[0] == "chain" && p[1] == "blocks":
		s.chainBlocks(ctx)
		return "GET /v1/chain/blocks"
	case method == "GET" && len(p) == 2 && p[0] == "checkpoints" && p[1] == "latest":
		s.checkpoints(ctx, false)
		return "GET /v1/checkpoints/latest"
	case method == "POST" && len(p) == 1 && p[0] == "checkpoints":
		s.checkpoints(ctx, true)
		return "POST /v1/checkpoints"
	case method == "GET" && len(p) == 3 && p[0] == "accounts" && (p[2] == "transfers" || p[2] == "balances"):
		s.statement(ctx, p[1], p[2])
		return "GET /v1/accounts/{id}/" + p[2]
	case method == "POST" && len(p) == 1 && p[0] == "txn":
		s.txn(ctx)
		return "POST /v1/txn"
	case method == "GET" && len(p) >= 2 && p[0] == "kv":
		s.getKV(ctx)
		return "GET /v1/kv/{key}"
	}
	writeError(ctx, 404, "not_found", "no such endpoint: "+method+" /v1/"+strings.Join(p, "/"))
	return "unknown"
}

// writeError writes SPEC's error shape.
func writeError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	writeJSON(ctx, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":{"code":"internal","message":"cannot encode the response"}}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// mediaType classifies the request body: JSON or the binary format.
func mediaType(ctx *fasthttp.RequestCtx) (binary bool, ok bool) {
	ct := string(ctx.Request.Header.ContentType())
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case "application/json", "":
		return false, true
	case "application/octet-stream":
		return true, true
	}
	writeError(ctx, fasthttp.StatusUnsupportedMediaType, "unsupported_media_type",
		fmt.Sprintf("content type %q is not application/json or application/octet-stream", ct))
	return false, false
}

// jsonError answers a body that does not decode, naming the problem.
func jsonError(ctx *fasthttp.RequestCtx, err error) {
	msg := err.Error()
	code := "malformed_json"
	if strings.Contains(msg, "unknown field") {
		code = "unknown_field"
	}
	writeError(ctx, 400, code, strings.TrimPrefix(msg, "json: "))
}

// batchError answers a request-level error from decoding or the engine.
func (s *Server) batchError(ctx *fasthttp.RequestCtx, err error) {
	var nl *transactor.NotLeaderError
	switch {
	case errors.Is(err, ledger.ErrEmptyBatch):
		writeError(ctx, 400, "empty_batch", "the batch has no events (1..8189)")
	case errors.Is(err, ledger.ErrBatchTooBig):
		writeError(ctx, 400, "too_many_events", err.Error())
	case errors.Is(err, ledger.ErrRecordLength):
		writeError(ctx, 400, "bad_binary_length", err.Error())
	case errors.Is(err, ledger.ErrReservedByte):
		writeError(ctx, 400, "reserved_bytes", err.Error())
	case errors.Is(err, engine.ErrChainSpansPartitions), errors.Is(err, engine.ErrTxnSpansPartitions):
		writeError(ctx, 422, "spans_partitions", err.Error())
	case errors.Is(err, store.ErrBadTxn), errors.Is(err, store.ErrBadFilter):
		writeError(ctx, 400, "invalid_request", err.Error())
	case errors.Is(err, engine.ErrUnknownOutcome):
		writeJSON(ctx, 503, map[string]any{"outcome": "unknown", "error": map[string]string{
			"code": "outcome_unknown", "message": "the outcome is unknown (leadership changed mid-commit); retry with the same ids"}})
	case errors.As(err, &nl):
		writeError(ctx, 503, "not_leader", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(ctx, 503, "timeout", "the request timed out before it was queued; nothing was applied")
	case errors.Is(err, errStopping):
		writeError(ctx, 503, "shutting_down", "the server is shutting down; nothing was applied")
	default:
		s.cfg.Logger.Error("request failed", "err", err)
		writeError(ctx, 500, "internal", "internal error")
	}
}

func (s *Server) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
}

func (s *Server) createAccounts(ctx *fasthttp.RequestCtx) {
	create(s, ctx, s.accounts, ledger.DecodeAccounts, (*wire.Account).ToLedger, s.cfg.Engine.CheckAccounts,
		func(st uint32) string { return ledger.AccountStatus(st).String() })
}

func (s *Server) createTransfers(ctx *fasthttp.RequestCtx) {
	create(s, ctx, s.transfers, ledger.DecodeTransfers, (*wire.Transfer).ToLedger, nil,
		func(st uint32) string { return ledger.TransferStatus(st).String() })
}

// create serves POST /v1/accounts and /v1/transfers: decode the batch
// (binary records or JSON objects W), hand it to the batcher, answer in the
// request's format.
func create[E, W any](s *Server, ctx *fasthttp.RequestCtx, b *batcher[E], decodeBinary func([]byte) ([]E, error),
	toLedger func(*W) E, check func([]E) error, name func(uint32) string) {
	binary, ok := mediaType(ctx)
	if !ok {
		return
	}
	var events []E
	if binary {
		var err error
		if events, err = decodeBinary(ctx.PostBody()); err != nil {
			s.batchError(ctx, err)
			return
		}
	} else {
		var in []W
		if err := wire.DecodeStrict(ctx.PostBody(), &in); err != nil {
			jsonError(ctx, err)
			return
		}
		if err := ledger.CheckEvents(len(in)); err != nil {
			s.batchError(ctx, err)
			return
		}
		events = make([]E, len(in))
		for i := range in {
			events[i] = toLedger(&in[i])
		}
	}
	if check != nil {
		if err := check(events); err != nil {
			s.batchError(ctx, err) // rejected alone, before it is merged with others
			return
		}
	}
	c, cancel := s.timeout()
	defer cancel()
	res, err := b.submit(c, events)
	s.writeResults(ctx, binary, res, err, name)
}

func (s *Server) writeResults(ctx *fasthttp.RequestCtx, binary bool, res []ledger.Result, err error, name func(uint32) string) {
	if err != nil {
		s.batchError(ctx, err)
		return
	}
	if binary {
		ctx.SetStatusCode(200)
		ctx.SetContentType("application/octet-stream")
		ctx.SetBody(ledger.EncodeResults(make([]byte, 0, len(res)*ledger.ResultSize), res))
		return
	}
	out := make([]wire.Result, len(res))
	for i, r := range res {
		out[i] = wire.Result{Status: name(r.Status), Timestamp: wire.U64(r.Timestamp)}
	}
	writeJSON(ctx, 200, out)
}

// partitionFor returns the partition of an account and makes the next read
// of its store linearizable.
func (s *Server) readPartition(ctx *fasthttp.RequestCtx, id ledger.Uint128) (*transactor.Partition, bool) {
	m := s.cfg.Node.Map()
	p := s.cfg.Node.Partition(m.OfID(id.Lo, id.Hi))
	if !s.barrier(ctx, p) {
		return nil, false
	}
	return p, true
}

func (s *Server) barrier(ctx *fasthttp.RequestCtx, p *transactor.Partition) bool {
	c, cancel := s.timeout()
	defer cancel()
	if err := p.ReadBarrier(c); err != nil {
		s.batchError(ctx, err)
		return false
	}
	return true
}

func parseID(ctx *fasthttp.RequestCtx, s string) (ledger.Uint128, bool) {
	id, err := ledger.ParseUint128(s)
	if err != nil {
		writeError(ctx, 400, "invalid_id", fmt.Sprintf("%q is not a decimal u128 id", s))
		return ledger.Uint128{}, false
	}
	return id, true
}

func (s *Server) getAccount(ctx *fasthttp.RequestCtx, idText string) {
	id, ok := parseID(ctx, idText)
	if !ok {
		return
	}
	p, ok := s.readPartition(ctx, id)
	if !ok {
		return
	}
	args := ctx.QueryArgs()
	var (
		a     ledger.Account
		found bool
		err   error
	)
	switch {
	case args.Has("as_of_version"):
		v, perr := strconv.ParseUint(string(args.Peek("as_of_version")), 10, 64)
		if perr != nil {
			writeError(ctx, 400, "invalid_query", "as_of_version must be a decimal u64")
			return
		}
		a, found, err = p.Store().AccountAt(id, v)
	case args.Has("as_of_time"):
		t, perr := time.Parse(time.RFC3339Nano, string(args.Peek("as_of_time")))
		if perr != nil || t.UnixNano() < 0 {
			writeError(ctx, 400, "invalid_query", "as_of_time must be an RFC 3339 time after 1970")
			return
		}
		a, found, err = p.Store().AccountAtTime(id, uint64(t.UnixNano()))
	default:
		a, found = p.Store().Account(id)
	}
	if err != nil {
		s.batchError(ctx, err)
		return
	}
	if !found {
		writeError(ctx, 404, "not_found", "no account "+id.String())
		return
	}
	writeJSON(ctx, 200, wire.FromAccount(&a))
}

// findTransfer looks a transfer up in every partition: a transfer id does
// not say where its accounts live.
func (s *Server) findTransfer(ctx *fasthttp.RequestCtx, id ledger.Uint128) (ledger.Transfer, bool, bool) {
	for _, p := range s.cfg.Node.Partitions() {
		if !s.barrier(ctx, p) {
			return ledger.Transfer{}, false, false
		}
		if t, ok := p.Store().Transfer(id); ok {
			return t, true, true
		}
	}
	return ledger.Transfer{}, false, true
}

func (s *Server) getTransfer(ctx *fasthttp.RequestCtx, idText string) {
	id, ok := parseID(ctx, idText)
	if !ok {
		return
	}
	t, found, ok := s.findTransfer(ctx, id)
	if !ok {
		return
	}
	if !found {
		writeError(ctx, 404, "not_found", "no transfer "+id.String())
		return
	}
	writeJSON(ctx, 200, wire.FromTransfer(&t))
}

func (s *Server) lookup(ctx *fasthttp.RequestCtx, kind string) {
	if binary, ok := mediaType(ctx); !ok {
		return
	} else if binary {
		writeError(ctx, 415, "unsupported_media_type", "lookups take JSON")
		return
	}
	var in struct {
		IDs []wire.U128 `json:"ids"`
	}
	if err := wire.DecodeStrict(ctx.PostBody(), &in); err != nil {
		jsonError(ctx, err)
		return
	}
	if len(in.IDs) > ledger.MaxBatchEvents {
		writeError(ctx, 400, "too_many_ids", fmt.Sprintf("at most %d ids", ledger.MaxBatchEvents))
		return
	}
	if kind == "accounts" {
		out := []wire.Account{}
		for _, raw := range in.IDs {
			id := ledger.Uint128(raw)
			p, ok := s.readPartition(ctx, id)
			if !ok {
				return
			}
			if a, found := p.Store().Account(id); found {
				out = append(out, wire.FromAccount(&a))
			}
		}
		writeJSON(ctx, 200, out)
		return
	}
	out := []wire.Transfer{}
	for _, raw := range in.IDs {
		t, found, ok := s.findTransfer(ctx, ledger.Uint128(raw))
		if !ok {
			return
		}
		if found {
			out = append(out, wire.FromTransfer(&t))
		}
	}
	writeJSON(ctx, 200, out)
}

// statement serves /v1/accounts/{id}/transfers and /balances.
func (s *Server) statement(ctx *fasthttp.RequestCtx, idText, what string) {
	id, ok := parseID(ctx, idText)
	if !ok {
		return
	}
	f, err := parseFilter(ctx.QueryArgs())
	if err != nil {
		writeError(ctx, 400, "invalid_query", err.Error())
		return
	}
	p, ok := s.readPartition(ctx, id)
	if !ok {
		return
	}
	if what == "transfers" {
		ts, err := p.Store().AccountTransfers(id, f)
		if err != nil {
			s.batchError(ctx, err)
			return
		}
		out := make([]wire.Transfer, len(ts))
		for i := range ts {
			out[i] = wire.FromTransfer(&ts[i])
		}
		writeJSON(ctx, 200, out)
		return
	}
	bs, err := p.Store().AccountBalances(id, f)
	if err != nil {
		s.batchError(ctx, err)
		return
	}
	out := make([]wire.Balance, len(bs))
	for i, b := range bs {
		out[i] = wire.Balance{Timestamp: wire.U64(b.Timestamp), DebitsPending: wire.U64(b.DebitsPending), DebitsPosted: wire.U64(b.DebitsPosted),
			CreditsPending: wire.U64(b.CreditsPending), CreditsPosted: wire.U64(b.CreditsPosted)}
	}
	writeJSON(ctx, 200, out)
}

func parseFilter(args *fasthttp.Args) (store.Filter, error) {
	var f store.Filter
	var err error
	u64 := func(name string) uint64 {
		if err != nil || !args.Has(name) {
			return 0
		}
		v, perr := strconv.ParseUint(string(args.Peek(name)), 10, 64)
		if perr != nil {
			err = fmt.Errorf("%s must be a decimal u64", name)
		}
		return v
	}
	flag := func(name string) bool {
		if err != nil || !args.Has(name) {
			return false
		}
		switch string(args.Peek(name)) {
		case "", "true", "1":
			return true
		case "false", "0":
			return false
		}
		err = fmt.Errorf("%s must be true or false", name)
		return false
	}
	f.TimestampMin, f.TimestampMax = u64("timestamp_min"), u64("timestamp_max")
	if limit := u64("limit"); args.Has("limit") && (limit == 0 || limit > store.MaxQueryLimit) {
		if err == nil {
			err = fmt.Errorf("limit must be 1..%d", store.MaxQueryLimit)
		}
	} else {
		f.Limit = int(limit)
	}
	f.Debits, f.Credits, f.Reversed = flag("debits"), flag("credits"), flag("reversed")
	args.VisitAll(func(k, _ []byte) {
		switch string(k) {
		case "timestamp_min", "timestamp_max", "limit", "debits", "credits", "reversed":
		default:
			if err == nil {
				err = fmt.Errorf("unknown query parameter %q", k)
			}
		}
	})
	return f, err
}

type txnCheck struct {
	AccountID *wire.U128 `json:"account_id,omitempty"`
	Key       *string    `json:"key,omitempty"`
	Version   *wire.U64  `json:"version"`
}

type txnPut struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type txnRequest struct {
	Checks    []txnCheck      `json:"checks"`
	Puts      []txnPut        `json:"puts"`
	Transfers []wire.Transfer `json:"transfers"`
}

func (s *Server) txn(ctx *fasthttp.RequestCtx) {
	if binary, ok := mediaType(ctx); !ok {
		return
	} else if binary {
		writeError(ctx, 415, "unsupported_media_type", "/v1/txn takes JSON")
		return
	}
	var in txnRequest
	if err := wire.DecodeStrict(ctx.PostBody(), &in); err != nil {
		jsonError(ctx, err)
		return
	}
	txn, msg := in.toStore()
	if msg != "" {
		writeError(ctx, 400, "invalid_request", msg)
		return
	}
	c, cancel := s.timeout()
	defer cancel()
	res, err := s.cfg.Engine.Txn(c, txn)
	if err != nil {
		s.batchError(ctx, err)
		return
	}
	statuses := make([]wire.Result, len(res.Results))
	for i, r := range res.Results {
		statuses[i] = wire.Result{Status: ledger.TransferStatus(r.Status).String(), Timestamp: wire.U64(r.Timestamp)}
	}
	switch res.Status {
	case store.TxnCommitted:
		writeJSON(ctx, 200, map[string]any{"status": "committed", "version": wire.U64(res.Version), "transfers": statuses})
	case store.TxnConflict:
		writeJSON(ctx, 409, map[string]any{"status": "conflict", "conflicts": conflictsJSON(res.Conflicts)})
	default:
		writeJSON(ctx, 422, map[string]any{"status": "failed", "transfers": statuses})
	}
}

func (in *txnRequest) toStore() (*store.Txn, string) {
	txn := &store.Txn{}
	for i, c := range in.Checks {
		switch {
		case (c.AccountID == nil) == (c.Key == nil):
			return nil, fmt.Sprintf("check %d must have exactly one of account_id and key", i)
		case c.Version == nil:
			return nil, fmt.Sprintf("check %d has no version (\"0\" means must not exist)", i)
		case c.AccountID != nil:
			txn.AccountChecks = append(txn.AccountChecks, store.AccountCheck{ID: ledger.Uint128(*c.AccountID), Version: uint64(*c.Version)})
		default:
			txn.KeyChecks = append(txn.KeyChecks, store.KeyCheck{Key: *c.Key, Version: uint64(*c.Version)})
		}
	}
	for i, p := range in.Puts {
		v, err := base64.StdEncoding.DecodeString(p.Value)
		if err != nil {
			return nil, fmt.Sprintf("put %d: value is not base64", i)
		}
		txn.Puts = append(txn.Puts, store.Put{Key: p.Key, Value: v})
	}
	for i := range in.Transfers {
		txn.Transfers = append(txn.Transfers, in.Transfers[i].ToLedger())
	}
	if err := txn.Validate(); err != nil {
		return nil, err.Error()
	}
	return txn, ""
}

func conflictsJSON(cs []store.Conflict) []map[string]any {
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		m := map[string]any{"expected_version": wire.U64(c.Expected), "actual_version": wire.U64(c.Actual)}
		if c.IsKey {
			m["key"] = c.Key
		} else {
			m["account_id"] = wire.U128(c.AccountID)
		}
		out[i] = m
	}
	return out
}

// getKV serves /v1/kv/{key}. The key is taken from the raw path and
// percent-decoded, not from the normalised one, so keys with slashes
// ("a//b", "x/") read exactly what was written.
func (s *Server) getKV(ctx *fasthttp.RequestCtx) {
	raw := string(ctx.Request.URI().PathOriginal())
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	key, err := url.PathUnescape(strings.TrimPrefix(raw, "/v1/kv/"))
	if err != nil || !strings.HasPrefix(raw, "/v1/kv/") {
		writeError(ctx, 400, "invalid_key", "the key is not a valid percent-encoded path segment")
		return
	}
	if err := store.ValidateKey(key); err != nil {
		writeError(ctx, 400, "invalid_key", err.Error())
		return
	}
	asOf := ^uint64(0)
	if args := ctx.QueryArgs(); args.Has("as_of_version") {
		v, err := strconv.ParseUint(string(args.Peek("as_of_version")), 10, 64)
		if err != nil {
			writeError(ctx, 400, "invalid_query", "as_of_version must be a decimal u64")
			return
		}
		asOf = v
	}
	p := s.cfg.Node.Partition(s.cfg.Node.Map().OfKey([]byte(key)))
	if !s.barrier(ctx, p) {
		return
	}
	val, ver, found, err := p.Store().Get(key, asOf)
	if err != nil {
		s.batchError(ctx, err)
		return
	}
	if !found {
		writeError(ctx, 404, "not_found", fmt.Sprintf("no key %q", key))
		return
	}
	writeJSON(ctx, 200, map[string]any{"key": key, "value": base64.StdEncoding.EncodeToString(val), "version": wire.U64(ver)})
}

// readyz answers 200 when every partition has a leader this node can reach.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	for i, p := range s.cfg.Node.Partitions() {
		if leader, _ := p.Raft().LeaderWithID(); leader == "" {
			writeError(ctx, 503, "not_ready", fmt.Sprintf("partition %d has no leader", i))
			return
		}
	}
	writeJSON(ctx, 200, map[string]string{"status": "ready"})
}

// Draining an over-limit body: fasthttp answers before reading it, and a
// connection closed with unread data resets, so a client still sending
// would see ECONNRESET instead of the 413. The rest of the body is read
// and dropped first, within bounds: at most maxDrain bytes, drainIdle
// without data, drainTotal in all; beyond them the connection is closed as
// before.
const (
	maxDrain   = 64 << 20
	drainIdle  = 200 * time.Millisecond
	drainTotal = 5 * time.Second
)

func drainBody(ctx *fasthttp.RequestCtx) {
	n := ctx.Request.Header.ContentLength()
	conn := ctx.Conn()
	if n <= 0 || n > maxDrain || conn == nil {
		return
	}
	deadline := time.Now().Add(drainTotal)
	buf := make([]byte, 64<<10)
	for left := n; left > 0 && time.Now().Before(deadline); {
		idle := time.Now().Add(drainIdle)
		if idle.After(deadline) {
			idle = deadline
		}
		conn.SetReadDeadline(idle)
		k, err := conn.Read(buf[:min(len(buf), left)])
		left -= k
		if err != nil {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
}
