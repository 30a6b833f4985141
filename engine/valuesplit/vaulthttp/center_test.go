package vaulthttp

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// The center API refuses requests without a key, with a wrong key, and
// with one cluster's key naming another cluster; the admin endpoints take
// only the admin token.
func TestCenterAuthRefused(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1", "c2"}})
	body := jsonBody(t, epochRequest{Cluster: "c1"})
	for _, path := range []string{PathEpoch, PathAddUser, PathRegister, PathAcquire, PathPrepare, PathComplete,
		PathCancel, PathStatus, PathMapping, PathAck, PathHello, PathLookup} {
		wantError(t, do1(t, "POST", e.url+path, "", "application/json", body), http.StatusUnauthorized, "unauthorized")
		wantError(t, do1(t, "POST", e.url+path, secret(t), "application/json", body), http.StatusUnauthorized, "unauthorized")
		wantError(t, do1(t, "POST", e.url+path, e.adminToken, "application/json", body), http.StatusUnauthorized, "unauthorized")
	}
	// c2's key, a request naming c1.
	wantError(t, do1(t, "POST", e.url+PathEpoch, e.keys["c2"], "application/json", body), http.StatusForbidden, "forbidden")
	// The right key works.
	a := do1(t, "POST", e.url+PathEpoch, e.keys["c1"], "application/json", body)
	if a.status != http.StatusOK || !strings.Contains(string(a.body), `"epoch":1`) {
		t.Fatalf("epoch with c1's key: %d %s", a.status, a.body)
	}
	// "Bearer" is required, and not some other scheme.
	req, _ := http.NewRequest("POST", e.url+PathEpoch, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Basic "+e.keys["c1"])
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Basic auth: %d", resp.StatusCode)
	}
	for _, path := range []string{PathAdminRotate, PathAdminCheck, PathAdminRepair} {
		wantError(t, do1(t, "POST", e.url+path, "", "", nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, do1(t, "POST", e.url+path, secret(t), "", nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, do1(t, "POST", e.url+path, e.keys["c1"], "", nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, do1(t, "GET", e.url+path, e.adminToken, "", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	}
	if a := do1(t, "POST", e.url+PathAdminCheck, e.adminToken, "", nil); a.status != http.StatusOK {
		t.Fatalf("check with the admin token: %d %s", a.status, a.body)
	}
	wantError(t, do1(t, "GET", e.url+PathEpoch, e.keys["c1"], "", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, do1(t, "POST", e.url+"/center/v1/nothing", e.keys["c1"], "", nil), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "POST", e.url+PathEpoch, e.keys["c1"], "text/plain", body), http.StatusUnsupportedMediaType, "unsupported_media_type")
	wantError(t, do1(t, "POST", e.url+PathEpoch, e.keys["c1"], "application/json", []byte(`{"cluster":"c1","x":1}`)), http.StatusBadRequest, "invalid")

	// A server with no admin token configured refuses every admin call.
	cs, err := NewCenterServer(CenterServerConfig{Center: e.center, Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", e.adminToken} {
		req, _ := http.NewRequest("POST", PathAdminRotate, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := newRecorder()
		cs.ServeHTTP(rec, req)
		if rec.status != http.StatusUnauthorized {
			t.Fatalf("admin call on a server without admin token: %d", rec.status)
		}
	}
}

// With HoldUntilChecked the cluster endpoints wait for the first monitor
// pass; the admin endpoints and /healthz do not.
func TestCenterHoldsUntilChecked(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}})
	cs, err := NewCenterServer(CenterServerConfig{Center: e.center, Dir: t.TempDir(), Logger: quietLogger(),
		ClusterKeys: map[string]SecretHash{"c1": HashSecret(e.keys["c1"])}, AdminToken: HashSecret(e.adminToken), HoldUntilChecked: true})
	if err != nil {
		t.Fatal(err)
	}
	call := func(path, token string) *recorder {
		req, _ := http.NewRequest("POST", path, strings.NewReader(`{"cluster":"c1"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := newRecorder()
		cs.ServeHTTP(rec, req)
		return rec
	}
	if rec := call(PathEpoch, e.keys["c1"]); rec.status != http.StatusServiceUnavailable || !strings.Contains(string(rec.body), `"unavailable"`) {
		t.Fatalf("before the first check: %d %s", rec.status, rec.body)
	}
	if rec := call(PathEpoch, secret(t)); rec.status != http.StatusUnauthorized {
		t.Fatalf("wrong key while held: %d", rec.status)
	}
	if rec := call(PathAdminCheck, e.adminToken); rec.status != http.StatusBadRequest { // the body is not empty
		t.Fatalf("admin while held: %d %s", rec.status, rec.body)
	}
	if _, err := cs.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec := call(PathEpoch, e.keys["c1"]); rec.status != http.StatusOK {
		t.Fatalf("after the first check: %d %s", rec.status, rec.body)
	}
}

// Errors the center answers come back from CenterClient as the library's
// sentinels.
func TestCenterClientErrorsMapBack(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1", "c2"}})
	ctx := ctxT(t)
	c1 := e.clusters["c1"].client
	if _, err := c1.AddUser(ctx, "alice", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.AddUser(ctx, "alice", "alice@example.com"); !errors.Is(err, vs.ErrExists) {
		t.Fatalf("second AddUser: %v, want ErrExists", err)
	}
	if _, err := c1.AddUser(ctx, "bob", "not-an-address"); !errors.Is(err, vs.ErrInvalid) {
		t.Fatalf("bad e-mail: %v, want ErrInvalid", err)
	}
	var h vs.Handle
	h[3] = 7
	_, err := c1.Acquire(ctx, vs.AcquireRequest{Cluster: "c1", User: "alice", Epoch: 1, Handle: h})
	if !errors.Is(err, vs.ErrUnknownHandle) {
		t.Fatalf("forged handle: %v, want ErrUnknownHandle", err)
	}
	_, err = c1.Acquire(ctx, vs.AcquireRequest{Cluster: "c1", User: "alice", Epoch: 9, Handle: h})
	var stale *vs.StaleEpochError
	if !errors.Is(err, vs.ErrStaleEpoch) || !errors.As(err, &stale) || stale.Current != 1 || stale.Got != 9 {
		t.Fatalf("stale epoch: %v (%+v), want a StaleEpochError 9 → 1", err, stale)
	}
	if _, err := c1.Acquire(ctx, vs.AcquireRequest{Cluster: "c1", User: "nobody", Epoch: 1, Handle: h}); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
	// c1's client naming c2: the server refuses it.
	if err := c1.CancelTransfer(ctx, "c2", "alice", vs.OpID{1}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("naming another cluster: %v, want ErrForbidden", err)
	}
	if _, err := c1.Mapping(ctx, "c1", 0); !errors.Is(err, vs.ErrRefused) {
		t.Fatalf("mapping from before the acknowledged epoch: %v, want ErrRefused", err)
	}
	if _, err := c1.LookupCluster(ctx, "c9", ""); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("unknown cluster: %v, want ErrNotFound", err)
	}
	if got, err := c1.LookupCluster(ctx, "", e.clusters["c2"].url); err != nil || got.ID != "c2" || !got.Enabled {
		t.Fatalf("lookup by URL: %+v, %v", got, err)
	}
	// Another cluster may not claim c2's URL.
	if _, err := c1.Hello(ctx, e.clusters["c2"].url, ""); !errors.Is(err, vs.ErrConflict) {
		t.Fatalf("claiming c2's URL: %v, want ErrConflict", err)
	}
	wrong, _ := NewCenterClient(e.url, "c1", secret(t), nil)
	if _, err := wrong.Epoch(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong key: %v, want ErrUnauthorized", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c1.Epoch(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v, want context.Canceled", err)
	}
	// A center that does not answer.
	dead, _ := NewCenterClient("http://127.0.0.1:1", "c1", e.keys["c1"], nil)
	dead.Timeout = 5 * time.Second
	if _, err := dead.Epoch(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unreachable center: %v, want ErrUnavailable", err)
	}
}

// The admin endpoints: check finds and freezes a tampered block, names it
// and alerts by mail; the frozen items are held; rotation waits for
// repair; repair restores every item byte for byte.
func TestAdminCheckFreezeRepair(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}, monitor: true})
	c := e.clusters["c1"]
	c.addUser(t, "alice")
	datas := map[string][]byte{}
	var ids []string
	for i, n := range []int{10, 5000, 70_000} {
		d := randomData(t, n)
		v := c.put(t, "alice", "item"+string(rune('a'+i)), d)
		datas[v.ID] = d
		ids = append(ids, v.ID)
	}
	ctx := ctxT(t)
	adm := e.admin(t)
	res, err := adm.Check(ctx)
	if err != nil || res.Tampered {
		t.Fatalf("clean check: %+v, %v", res, err)
	}
	// Alter one byte of block 2 (the second item's registration) on disk.
	blocks := filepath.Join(e.dir, "center", vs.ChainDir, chain.BlocksFile)
	flipByte(t, blocks, 2*chain.RecordSize+100)
	res, err = adm.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Tampered || res.FirstBad == nil || res.FirstBad.Index != 2 || res.Froze == nil {
		t.Fatalf("check after tampering: %+v", res)
	}
	if msgs := e.sink.To("admin@example.com"); len(msgs) == 0 || !strings.Contains(msgs[0].Data, "block 2") {
		t.Fatalf("no alert naming block 2 reached the administrator: %+v", msgs)
	}
	if msgs := e.sink.To("ops-c1@example.com"); len(msgs) == 0 {
		t.Fatal("no alert reached the affected cluster's administrator")
	}
	wantError(t, c.get(t, "alice", ids[1]), http.StatusServiceUnavailable, "frozen")
	c.mustGet(t, "alice", ids[0], datas[ids[0]]) // before the frozen range
	// A second check still reports it (frozen), without a new freeze.
	res, err = adm.Check(ctx)
	if err != nil || !res.Tampered || res.FirstBad.Index != 2 || !res.FirstBad.Frozen || res.Froze != nil {
		t.Fatalf("second check: %+v, %v", res, err)
	}
	if _, err := adm.Rotate(ctx); !errors.Is(err, vs.ErrFrozen) {
		t.Fatalf("rotate while frozen: %v, want ErrFrozen", err)
	}
	metric(t, e.url, "conto_vault_frozen_blocks", "2")
	rep, err := adm.Repair(ctx)
	if err != nil || len(rep.Lost) != 0 || len(rep.Rebuilt) == 0 {
		t.Fatalf("repair: %+v, %v", rep, err)
	}
	res, err = adm.Check(ctx)
	if err != nil || res.Tampered {
		t.Fatalf("check after repair: %+v, %v", res, err)
	}
	for _, id := range ids {
		c.mustGet(t, "alice", id, datas[id])
	}
	if _, err := adm.Rotate(ctx); err != nil {
		t.Fatalf("rotate after repair: %v", err)
	}
	for _, id := range ids {
		c.mustGet(t, "alice", id, datas[id])
	}
	metric(t, e.url, "conto_vault_frozen_blocks", "0")
	metric(t, e.url, "conto_vault_repair_runs_total", "1")
	metric(t, e.url, "conto_vault_tamper_detections_total", "1")
	metric(t, e.url, "conto_vault_rotations_total", "1")
	metric(t, e.url, "conto_vault_items", "3")
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// metric checks one unlabelled sample of /metrics.
func metric(t *testing.T, base, name, want string) {
	t.Helper()
	a := do1(t, "GET", base+"/metrics", "", "", nil)
	for _, line := range strings.Split(string(a.body), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			if f[1] != want {
				t.Fatalf("%s = %s, want %s", name, f[1], want)
			}
			return
		}
	}
	t.Fatalf("%s not in /metrics:\n%s", name, a.body)
}

// recorder is a minimal ResponseWriter for direct handler calls.
type recorder struct {
	h      http.Header
	status int
	body   []byte
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	r.body = append(r.body, b...)
	return len(b), nil
}
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}

// Admin tokens are printed once, stored hashed, and settable from a file.
func TestSetupAdminToken(t *testing.T) {
	dir := t.TempDir()
	h1, tok, err := SetupAdminToken(dir, "")
	if err != nil || tok == "" || !h1.Matches(tok) {
		t.Fatalf("first start: %v, %q", err, tok)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, AdminTokenHashFile))
	if strings.Contains(string(raw), tok) {
		t.Fatal("the token itself is stored")
	}
	h2, tok2, err := SetupAdminToken(dir, "")
	if err != nil || tok2 != "" || h2 != h1 {
		t.Fatalf("second start: %v, printed %q, same hash %v", err, tok2, h2 == h1)
	}
	f := filepath.Join(t.TempDir(), "admin.token")
	h3, tok3, err := SetupAdminToken(dir, f)
	if err != nil || tok3 != "" || h3 == h1 {
		t.Fatalf("token file: %v", err)
	}
	fromFile, err := ReadSecretFile(f)
	if err != nil || !h3.Matches(fromFile) || h1.Matches(fromFile) {
		t.Fatalf("token file content: %v", err)
	}
	if h4, _, _ := SetupAdminToken(dir, ""); h4 != h3 {
		t.Fatal("the token file's hash was not kept")
	}
	os.WriteFile(f, []byte("short\n"), 0o600)
	if _, _, err := SetupAdminToken(dir, f); !errors.Is(err, vs.ErrInvalid) {
		t.Fatalf("short token: %v", err)
	}
}

func TestFrozenBlocksUnion(t *testing.T) {
	for _, c := range []struct {
		rs   []chain.Range
		want uint64
	}{
		{nil, 0},
		{[]chain.Range{{From: 2, To: 5}}, 3},
		{[]chain.Range{{From: 2, To: 5}, {From: 3, To: 9}}, 7},
		{[]chain.Range{{From: 7, To: 9}, {From: 2, To: 4}}, 4},
		{[]chain.Range{{From: 2, To: 9}, {From: 3, To: 4}}, 7},
	} {
		if got := frozenBlocks(c.rs); got != c.want {
			t.Errorf("frozenBlocks(%v) = %d, want %d", c.rs, got, c.want)
		}
	}
}
