package vaulthttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// Client limits.
const (
	// DefaultTimeout bounds one call when the caller's context has no
	// earlier deadline.
	DefaultTimeout = 30 * time.Second
	// MappingTimeout bounds a handle-mapping download (a large cluster's
	// mapping is big).
	MappingTimeout = 10 * time.Minute
	// AdminTimeout bounds an operator call: a monitor pass re-reads the
	// whole chain and retries undeliverable alerts.
	AdminTimeout = 10 * time.Minute
	// maxAnswer bounds an answer; maxMapping a mapping (about 150 bytes of
	// JSON per item: some 7 million items).
	maxAnswer  = 4 << 20
	maxMapping = 1 << 30
	maxErrBody = 64 << 10
)

// CenterClient is valuesplit.CenterAPI over the center's HTTP API: what a
// cluster server uses when the center runs in another process. Errors come
// back as the library's sentinels (errors.Is works; a stale epoch is a
// *valuesplit.StaleEpochError); a center that cannot be reached gives
// ErrUnavailable; the caller's context errors are returned as they are.
type CenterClient struct {
	base    string
	cluster string
	key     string
	hc      *http.Client
	// Timeout bounds each call (default DefaultTimeout).
	Timeout time.Duration
}

var _ vs.CenterAPI = (*CenterClient)(nil)

// NewCenterClient returns a client for the center at baseURL, calling as
// cluster with its shared key. hc may be nil (a client with a private
// transport; timeouts come from contexts).
func NewCenterClient(baseURL, cluster, key string, hc *http.Client) (*CenterClient, error) {
	base, err := CheckClusterURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("center URL: %w", err)
	}
	if err := vs.CheckID("cluster id", cluster); err != nil {
		return nil, err
	}
	if err := CheckSecret(key); err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	if hc == nil {
		hc = newHTTPClient()
	}
	return &CenterClient{base: base, cluster: cluster, key: key, hc: hc, Timeout: DefaultTimeout}, nil
}

func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = MappingTimeout
	return &http.Client{Transport: t}
}

// Cluster returns the cluster the client calls as.
func (c *CenterClient) Cluster() string { return c.cluster }

// URL returns the center's base URL.
func (c *CenterClient) URL() string { return c.base }

func (c *CenterClient) call(ctx context.Context, path string, in, out any) error {
	return doJSON(ctx, c.hc, c.base+path, c.key, in, out, c.Timeout, maxAnswer)
}

// doJSON POSTs in as JSON with a bearer token and decodes a 2xx answer
// into out, or returns the error answer as a *RemoteError.
func doJSON(ctx context.Context, hc *http.Client, url, token string, in, out any, timeout time.Duration, limit int64) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%w: encode request: %v", vs.ErrInvalid, err)
	}
	return do(ctx, hc, http.MethodPost, url, token, "application/json", nil, bytes.NewReader(body), out, timeout, limit)
}

// do sends a request and decodes the answer.
func do(ctx context.Context, hc *http.Client, method, url, token, ctype string, hdr http.Header, body io.Reader, out any, timeout time.Duration, limit int64) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("%w: build request: %v", vs.ErrInvalid, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return transportError(ctx, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		return decodeRemoteError(resp.StatusCode, b)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrBody))
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return transportError(ctx, url, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("%w: answer from %s exceeds %d bytes", ErrUnavailable, url, limit)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: malformed answer from %s: %v", ErrUnavailable, url, err)
	}
	return nil
}

// transportError reports a failed exchange: the caller's context error if
// that is what ended it, else ErrUnavailable.
func transportError(ctx context.Context, url string, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return fmt.Errorf("%s: %w", stripQuery(url), cerr)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, stripQuery(url), err)
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// Epoch implements valuesplit.CenterAPI.
func (c *CenterClient) Epoch(ctx context.Context) (vs.Epoch, error) {
	var res epochResponse
	err := c.call(ctx, PathEpoch, epochRequest{Cluster: c.cluster}, &res)
	return res.Epoch, err
}

// AddUser implements valuesplit.CenterAPI.
func (c *CenterClient) AddUser(ctx context.Context, id, email string) (vs.User, error) {
	var res vs.User
	err := c.call(ctx, PathAddUser, addUserRequest{Cluster: c.cluster, UserID: id, Email: email}, &res)
	return res, err
}

// Register implements valuesplit.CenterAPI.
func (c *CenterClient) Register(ctx context.Context, req vs.RegisterRequest) (vs.RegisterResult, error) {
	var res vs.RegisterResult
	err := c.call(ctx, PathRegister, req, &res)
	return res, err
}

// Acquire implements valuesplit.CenterAPI.
func (c *CenterClient) Acquire(ctx context.Context, req vs.AcquireRequest) (vs.AcquireResult, error) {
	var res vs.AcquireResult
	err := c.call(ctx, PathAcquire, req, &res)
	return res, err
}

// PrepareTransfer implements valuesplit.CenterAPI.
func (c *CenterClient) PrepareTransfer(ctx context.Context, req vs.PrepareTransferRequest) (vs.PrepareTransferResult, error) {
	var res vs.PrepareTransferResult
	err := c.call(ctx, PathPrepare, req, &res)
	return res, err
}

// CompleteTransfer implements valuesplit.CenterAPI.
func (c *CenterClient) CompleteTransfer(ctx context.Context, req vs.CompleteTransferRequest) (vs.CompleteTransferResult, error) {
	var res vs.CompleteTransferResult
	err := c.call(ctx, PathComplete, req, &res)
	return res, err
}

// CancelTransfer implements valuesplit.CenterAPI.
func (c *CenterClient) CancelTransfer(ctx context.Context, cluster, user string, id vs.OpID) error {
	return c.call(ctx, PathCancel, cancelRequest{Cluster: cluster, User: user, ID: id}, &okResponse{})
}

// TransferStatus implements valuesplit.CenterAPI.
func (c *CenterClient) TransferStatus(ctx context.Context, cluster string, id vs.OpID) (vs.TransferStatus, error) {
	var res vs.TransferStatus
	err := c.call(ctx, PathStatus, statusRequest{Cluster: cluster, ID: id}, &res)
	return res, err
}

// Mapping implements valuesplit.CenterAPI.
func (c *CenterClient) Mapping(ctx context.Context, cluster string, from vs.Epoch) (vs.Mapping, error) {
	var res vs.Mapping
	err := doJSON(ctx, c.hc, c.base+PathMapping, c.key, mappingRequest{Cluster: cluster, From: from}, &res, MappingTimeout, maxMapping)
	return res, err
}

// AckEpoch implements valuesplit.CenterAPI.
func (c *CenterClient) AckEpoch(ctx context.Context, cluster string, epoch vs.Epoch) error {
	return c.call(ctx, PathAck, ackRequest{Cluster: cluster, Epoch: epoch}, &okResponse{})
}

// Hello announces the cluster's URL (and administrator address, for tamper
// alerts) to the center; the center registers the cluster on its first
// hello.
func (c *CenterClient) Hello(ctx context.Context, url, adminEmail string) (ClusterEntry, error) {
	var res ClusterEntry
	err := c.call(ctx, PathHello, helloRequest{Cluster: c.cluster, URL: url, AdminEmail: adminEmail}, &res)
	return res, err
}

// LookupCluster asks the center for a cluster by id or by URL (one of the
// two).
func (c *CenterClient) LookupCluster(ctx context.Context, id, url string) (ClusterEntry, error) {
	var res ClusterEntry
	err := c.call(ctx, PathLookup, lookupRequest{Cluster: c.cluster, ID: id, URL: url}, &res)
	return res, err
}

// AdminClient calls the center's operator endpoints.
type AdminClient struct {
	base  string
	token string
	hc    *http.Client
	// Timeout bounds each call (default AdminTimeout).
	Timeout time.Duration
}

// NewAdminClient returns an operator client for the center at baseURL.
func NewAdminClient(baseURL, token string, hc *http.Client) (*AdminClient, error) {
	base, err := CheckClusterURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("center URL: %w", err)
	}
	if err := CheckSecret(token); err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if hc == nil {
		hc = newHTTPClient()
	}
	return &AdminClient{base: base, token: token, hc: hc, Timeout: AdminTimeout}, nil
}

func (a *AdminClient) call(ctx context.Context, path string, out any) error {
	return doJSON(ctx, a.hc, a.base+path, a.token, struct{}{}, out, a.Timeout, maxAnswer)
}

// Rotate rotates the handles now.
func (a *AdminClient) Rotate(ctx context.Context) (RotateResult, error) {
	var res RotateResult
	err := a.call(ctx, PathAdminRotate, &res)
	return res, err
}

// Check runs the tamper monitor now.
func (a *AdminClient) Check(ctx context.Context) (CheckResult, error) {
	var res CheckResult
	err := a.call(ctx, PathAdminCheck, &res)
	return res, err
}

// SetFlag sets a user's or a cluster's valid flag.
func (a *AdminClient) SetFlag(ctx context.Context, req FlagsRequest) error {
	return doJSON(ctx, a.hc, a.base+PathAdminFlags, a.token, req, &FlagsRequest{}, a.Timeout, maxAnswer)
}

// Repair runs the repair bot now.
func (a *AdminClient) Repair(ctx context.Context) (RepairResult, error) {
	var res RepairResult
	err := a.call(ctx, PathAdminRepair, &res)
	return res, err
}
