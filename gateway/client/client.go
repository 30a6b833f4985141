// Package client is the Go client of conto's HTTP API, for payment
// front-ends: batches of accounts and transfers (binary by default, JSON on
// request), lookups, statements, optimistic transactions and keys.
//
// Creates are retried with the same ids when the outcome is unknown (a
// leader lost mid-commit, a connection dropped): ids are idempotency keys,
// so a retry answers exists for what the first attempt committed, and
// nothing is applied twice. Every call takes a context.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/wire"
)

// Client talks to one conto node (any node of a cluster accepts every call).
type Client struct {
	apiKey  string
	base    string
	http    *http.Client
	json    bool
	retries int
	backoff time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: 30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithAPIKey authenticates every call with an API key (conto keys add).
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithJSON sends batches as JSON instead of the 128-byte binary format.
func WithJSON() Option { return func(c *Client) { c.json = true } }

// WithRetries sets how often a create is retried after an unknown outcome
// (default 5), waiting backoff, doubled each time (default 100 ms).
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// New returns a client for the node at base, e.g. "http://127.0.0.1:7070".
func New(base string, opts ...Option) *Client {
	c := &Client{base: base, http: &http.Client{Timeout: 30 * time.Second}, retries: 5, backoff: 100 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
	// OutcomeUnknown: the request may or may not have been applied; retry
	// with the same ids.
	OutcomeUnknown bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("conto: %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrNotFound is returned (wrapped in an APIError) for a missing object.
var ErrNotFound = errors.New("not found")

func (e *APIError) Is(target error) bool { return target == ErrNotFound && e.Status == 404 }

// unknownOutcome reports an error after which a create may have applied.
func unknownOutcome(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.OutcomeUnknown || api.Status == 503
	}
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// CreateAccounts creates 1..8189 accounts and returns one result per event.
func (c *Client) CreateAccounts(ctx context.Context, accts []ledger.Account) ([]ledger.Result, error) {
	if c.json {
		in := make([]wire.Account, len(accts))
		for i := range accts {
			in[i] = wire.FromAccount(&accts[i])
		}
		return c.createJSON(ctx, "/v1/accounts", in, func(s string) (uint32, bool) { return accountStatus[s], true })
	}
	body := make([]byte, len(accts)*ledger.RecordSize)
	for i := range accts {
		ledger.EncodeAccount(body[i*ledger.RecordSize:], &accts[i])
	}
	return c.createBinary(ctx, "/v1/accounts", body)
}

// CreateTransfers creates 1..8189 transfers and returns one result per event.
func (c *Client) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	if c.json {
		in := make([]wire.Transfer, len(ts))
		for i := range ts {
			in[i] = wire.FromTransfer(&ts[i])
		}
		return c.createJSON(ctx, "/v1/transfers", in, func(s string) (uint32, bool) { return transferStatus[s], true })
	}
	body := make([]byte, len(ts)*ledger.RecordSize)
	for i := range ts {
		ledger.EncodeTransfer(body[i*ledger.RecordSize:], &ts[i])
	}
	return c.createBinary(ctx, "/v1/transfers", body)
}

var accountStatus, transferStatus = statusNumbers()

func statusNumbers() (map[string]uint32, map[string]uint32) {
	a, t := map[string]uint32{}, map[string]uint32{}
	for i := 0; i < ledger.AccountStatusCount; i++ {
		a[ledger.AccountStatus(i).String()] = uint32(i)
	}
	for i := 0; i < ledger.TransferStatusCount; i++ {
		t[ledger.TransferStatus(i).String()] = uint32(i)
	}
	return a, t
}

func (c *Client) createBinary(ctx context.Context, path string, body []byte) ([]ledger.Result, error) {
	var res []ledger.Result
	err := c.retry(ctx, func() error {
		b, err := c.do(ctx, "POST", path, "application/octet-stream", body)
		if err != nil {
			return err
		}
		res, err = ledger.DecodeResults(b)
		return err
	})
	return res, err
}

func (c *Client) createJSON(ctx context.Context, path string, in any, status func(string) (uint32, bool)) ([]ledger.Result, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var res []ledger.Result
	err = c.retry(ctx, func() error {
		var out []wire.Result
		if err := c.doJSON(ctx, "POST", path, body, &out); err != nil {
			return err
		}
		res = make([]ledger.Result, len(out))
		for i, r := range out {
			st, _ := status(r.Status)
			res[i] = ledger.Result{Timestamp: uint64(r.Timestamp), Status: st}
		}
		return nil
	})
	return res, err
}

// retry runs a create, again while its outcome is unknown.
func (c *Client) retry(ctx context.Context, f func() error) error {
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !unknownOutcome(err) || attempt >= c.retries {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (outcome of the last attempt unknown: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// do sends a request and returns the body of a 2xx answer, else an APIError.
func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	return b, apiError(resp.StatusCode, b)
}

func apiError(status int, body []byte) *APIError {
	var e struct {
		Outcome string `json:"outcome"`
		Error   struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	return &APIError{Status: status, Code: e.Error.Code, Message: e.Error.Message, OutcomeUnknown: e.Outcome == "unknown"}
}

func (c *Client) doJSON(ctx context.Context, method, path string, body []byte, out any) error {
	ctype := ""
	if body != nil {
		ctype = "application/json"
	}
	b, err := c.do(ctx, method, path, ctype, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Account reads an account. AccountAt reads it as of a version.
func (c *Client) Account(ctx context.Context, id ledger.Uint128) (ledger.Account, error) {
	return c.account(ctx, "/v1/accounts/"+id.String())
}

// AccountAt reads an account as of a version.
func (c *Client) AccountAt(ctx context.Context, id ledger.Uint128, version uint64) (ledger.Account, error) {
	return c.account(ctx, "/v1/accounts/"+id.String()+"?as_of_version="+strconv.FormatUint(version, 10))
}

// AccountAtTime reads an account as of a time.
func (c *Client) AccountAtTime(ctx context.Context, id ledger.Uint128, t time.Time) (ledger.Account, error) {
	return c.account(ctx, "/v1/accounts/"+id.String()+"?as_of_time="+url.QueryEscape(t.UTC().Format(time.RFC3339Nano)))
}

func (c *Client) account(ctx context.Context, path string) (ledger.Account, error) {
	var a wire.Account
	if err := c.doJSON(ctx, "GET", path, nil, &a); err != nil {
		return ledger.Account{}, err
	}
	return a.ToLedger(), nil
}

// Transfer reads a transfer.
func (c *Client) Transfer(ctx context.Context, id ledger.Uint128) (ledger.Transfer, error) {
	var t wire.Transfer
	if err := c.doJSON(ctx, "GET", "/v1/transfers/"+id.String(), nil, &t); err != nil {
		return ledger.Transfer{}, err
	}
	return t.ToLedger(), nil
}

// LookupAccounts returns the accounts found, in the asked order.
func (c *Client) LookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	var out []wire.Account
	if err := c.lookup(ctx, "/v1/accounts/lookup", ids, &out); err != nil {
		return nil, err
	}
	accts := make([]ledger.Account, len(out))
	for i := range out {
		accts[i] = out[i].ToLedger()
	}
	return accts, nil
}

// LookupTransfers returns the transfers found, in the asked order.
func (c *Client) LookupTransfers(ctx context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error) {
	var out []wire.Transfer
	if err := c.lookup(ctx, "/v1/transfers/lookup", ids, &out); err != nil {
		return nil, err
	}
	ts := make([]ledger.Transfer, len(out))
	for i := range out {
		ts[i] = out[i].ToLedger()
	}
	return ts, nil
}

func (c *Client) lookup(ctx context.Context, path string, ids []ledger.Uint128, out any) error {
	in := struct {
		IDs []wire.U128 `json:"ids"`
	}{IDs: make([]wire.U128, len(ids))}
	for i, id := range ids {
		in.IDs[i] = wire.U128(id)
	}
	body, _ := json.Marshal(in)
	return c.doJSON(ctx, "POST", path, body, out)
}

// Filter selects a statement's entries (SPEC §3).
type Filter struct {
	TimestampMin, TimestampMax uint64
	Limit                      int
	Debits, Credits, Reversed  bool
}

func (f Filter) query() string {
	q := url.Values{}
	if f.TimestampMin != 0 {
		q.Set("timestamp_min", strconv.FormatUint(f.TimestampMin, 10))
	}
	if f.TimestampMax != 0 {
		q.Set("timestamp_max", strconv.FormatUint(f.TimestampMax, 10))
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	for name, on := range map[string]bool{"debits": f.Debits, "credits": f.Credits, "reversed": f.Reversed} {
		if on {
			q.Set(name, "true")
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// AccountTransfers returns an account's transfers (the mini statement).
func (c *Client) AccountTransfers(ctx context.Context, id ledger.Uint128, f Filter) ([]ledger.Transfer, error) {
	var out []wire.Transfer
	if err := c.doJSON(ctx, "GET", "/v1/accounts/"+id.String()+"/transfers"+f.query(), nil, &out); err != nil {
		return nil, err
	}
	ts := make([]ledger.Transfer, len(out))
	for i := range out {
		ts[i] = out[i].ToLedger()
	}
	return ts, nil
}

// AccountBalances returns a history account's balances after each change.
func (c *Client) AccountBalances(ctx context.Context, id ledger.Uint128, f Filter) ([]ledger.Balance, error) {
	var out []wire.Balance
	if err := c.doJSON(ctx, "GET", "/v1/accounts/"+id.String()+"/balances"+f.query(), nil, &out); err != nil {
		return nil, err
	}
	bs := make([]ledger.Balance, len(out))
	for i, b := range out {
		bs[i] = ledger.Balance{Timestamp: uint64(b.Timestamp), DebitsPending: uint64(b.DebitsPending),
			DebitsPosted: uint64(b.DebitsPosted), CreditsPending: uint64(b.CreditsPending), CreditsPosted: uint64(b.CreditsPosted)}
	}
	return bs, nil
}

// Check, Put and Txn describe an optimistic transaction (SPEC §4). A check
// names an account (AccountID) or a key (Key) and the version it must have;
// 0 means it must not exist.
type (
	Check struct {
		AccountID *ledger.Uint128
		Key       *string
		Version   uint64
	}
	Put struct {
		Key   string
		Value []byte
	}
	Txn struct {
		Checks    []Check
		Puts      []Put
		Transfers []ledger.Transfer
	}
)

// TxnResult is a transaction's outcome: Status is "committed", "conflict"
// or "failed" (a transfer failed; Results says which).
type TxnResult struct {
	Status    string
	Version   uint64
	Conflicts []json.RawMessage
	Results   []ledger.Result
}

// Txn commits an optimistic transaction. Conflicts and failures are
// outcomes, not errors. It is not retried: its ids or checks decide whether
// a second attempt may apply.
func (c *Client) Txn(ctx context.Context, t Txn) (*TxnResult, error) {
	type check struct {
		AccountID *wire.U128 `json:"account_id,omitempty"`
		Key       *string    `json:"key,omitempty"`
		Version   wire.U64   `json:"version"`
	}
	type put struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	in := struct {
		Checks    []check         `json:"checks"`
		Puts      []put           `json:"puts"`
		Transfers []wire.Transfer `json:"transfers"`
	}{Checks: []check{}, Puts: []put{}, Transfers: []wire.Transfer{}}
	for _, ch := range t.Checks {
		w := check{Key: ch.Key, Version: wire.U64(ch.Version)}
		if ch.AccountID != nil {
			id := wire.U128(*ch.AccountID)
			w.AccountID = &id
		}
		in.Checks = append(in.Checks, w)
	}
	for _, p := range t.Puts {
		in.Puts = append(in.Puts, put{Key: p.Key, Value: base64.StdEncoding.EncodeToString(p.Value)})
	}
	for i := range t.Transfers {
		in.Transfers = append(in.Transfers, wire.FromTransfer(&t.Transfers[i]))
	}
	body, _ := json.Marshal(in)
	b, err := c.do(ctx, "POST", "/v1/txn", "application/json", body)
	var api *APIError
	if err != nil && !(errors.As(err, &api) && (api.Status == 409 || api.Status == 422)) {
		return nil, err
	}
	var out struct {
		Status    string            `json:"status"`
		Version   wire.U64          `json:"version"`
		Conflicts []json.RawMessage `json:"conflicts"`
		Transfers []wire.Result     `json:"transfers"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("conto: bad txn answer: %w", err)
	}
	res := &TxnResult{Status: out.Status, Version: uint64(out.Version), Conflicts: out.Conflicts}
	for _, r := range out.Transfers {
		res.Results = append(res.Results, ledger.Result{Timestamp: uint64(r.Timestamp), Status: transferStatus[r.Status]})
	}
	return res, nil
}

// Get reads a key (asOf 0: the current value) and the version that wrote it.
func (c *Client) Get(ctx context.Context, key string, asOf uint64) ([]byte, uint64, error) {
	path := "/v1/kv/" + url.PathEscape(key)
	if asOf != 0 {
		path += "?as_of_version=" + strconv.FormatUint(asOf, 10)
	}
	var out struct {
		Value   string   `json:"value"`
		Version wire.U64 `json:"version"`
	}
	if err := c.doJSON(ctx, "GET", path, nil, &out); err != nil {
		return nil, 0, err
	}
	v, err := base64.StdEncoding.DecodeString(out.Value)
	return v, uint64(out.Version), err
}
