package vaulthttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/notify"
	"github.com/conto-ledger/conto/engine/valuesplit/smtptest"
)

// The harness runs a center and clusters in this process, each behind a
// real HTTP server on 127.0.0.1 (httptest), wired exactly as the
// separate processes are: clusters reach the center only through
// CenterClient, and each other only through the peer endpoint.

// httpc bounds every test request in time.
var httpc = &http.Client{Timeout: 30 * time.Second}

type env struct {
	t          *testing.T
	dir        string
	center     *vs.Center
	book       *vs.FileBook
	cs         *CenterServer
	srv        *httptest.Server
	url        string
	adminToken string
	keys       map[string]string // cluster → shared key
	peerKey    string
	sink       *smtptest.Sink
	clusters   map[string]*clusterEnv
}

type clusterEnv struct {
	id         string
	dir        string
	url        string
	client     *CenterClient
	cluster    *vs.Cluster
	users      *UserTokens
	cs         *ClusterServer
	srv        *httptest.Server
	adminToken string
	tokens     map[string]string // user → token
}

type envOptions struct {
	clusters []string
	monitor  bool          // with an SMTP sink and a monitor
	maxBody  int64         // cluster upload limit (0: the SPEC's 64 MiB)
	grace    time.Duration // center grace for old handles
}

func secret(t testing.TB) string {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), adminToken: secret(t), keys: map[string]string{}, peerKey: secret(t),
		clusters: map[string]*clusterEnv{}}
	mk, err := vs.NewMasterKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.book, err = vs.OpenFileBook(filepath.Join(e.dir, "book.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.book.Close() })
	if e.center, _, err = vs.OpenCenter(vs.CenterConfig{Dir: filepath.Join(e.dir, "center"), MasterKey: mk, Book: e.book, Grace: o.grace}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.center.Close() })
	var mon *vs.Monitor
	if o.monitor {
		if e.sink, err = smtptest.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.sink.Close() })
		mon, err = vs.NewMonitor(vs.MonitorConfig{
			Center:   e.center,
			Notifier: &notify.SMTP{Addr: e.sink.Addr(), From: "vault@localhost", Timeout: 5 * time.Second},
			Retry:    notify.RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond},
			Admins:   []string{"admin@example.com"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	hashes := map[string]SecretHash{}
	for _, id := range o.clusters {
		e.keys[id] = secret(t)
		hashes[id] = HashSecret(e.keys[id])
	}
	e.cs, err = NewCenterServer(CenterServerConfig{Center: e.center, Monitor: mon, Dir: filepath.Join(e.dir, "center"),
		ClusterKeys: hashes, AdminToken: HashSecret(e.adminToken), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.cs)
	t.Cleanup(e.srv.Close)
	e.url = e.srv.URL
	for _, id := range o.clusters {
		e.startCluster(id, o.maxBody)
	}
	return e
}

// startCluster starts a cluster server on its own listener.
func (e *env) startCluster(id string, maxBody int64) *clusterEnv {
	t := e.t
	t.Helper()
	c := &clusterEnv{id: id, dir: filepath.Join(e.dir, "cluster-"+id), adminToken: secret(t), tokens: map[string]string{}}
	var handler http.Handler
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	c.url = "http://" + c.srv.Listener.Addr().String()
	var err error
	if c.client, err = NewCenterClient(e.url, id, e.keys[id], nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.client.Hello(ctx, c.url, "ops-"+id+"@example.com"); err != nil {
		t.Fatal(err)
	}
	c.open(t, e.peerKey)
	if c.users, err = OpenUserTokens(filepath.Join(c.dir, UserTokensFile)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.users.Close() })
	c.cs, err = NewClusterServer(ClusterServerConfig{Cluster: c.cluster, Center: c.client, Directory: c.client, Users: c.users,
		AdminToken: HashSecret(c.adminToken), PeerKey: HashSecret(e.peerKey), PublicURL: c.url, Logger: quietLogger(), MaxBody: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	handler = c.cs
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	e.clusters[id] = c
	return c
}

// open opens the cluster core over its store directory.
func (c *clusterEnv) open(t *testing.T, peerKey string) {
	t.Helper()
	var err error
	c.cluster, err = vs.OpenCluster(vs.ClusterConfig{ID: c.id, Dir: filepath.Join(c.dir, "store"), Center: c.client,
		Peers: Peers(c.client, peerKey, nil), DownloadLink: DownloadLink(c.url)})
	if err != nil {
		t.Fatal(err)
	}
	cl := c.cluster
	t.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.cluster.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// answer is one HTTP exchange.
type answer struct {
	status int
	body   []byte
	header http.Header
}

func do1(t testing.TB, method, url, token, ctype string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header}
}

func jsonBody(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantError checks an answer is the SPEC error shape with status and code.
func wantError(t testing.TB, a answer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	var eb struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(a.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("answer %q is not {\"error\":{...}}", a.body)
	}
	if eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", *eb.Error, code)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q", ct)
	}
}

// addUser creates a user through the cluster's SPEC endpoint.
func (c *clusterEnv) addUser(t testing.TB, id string) string {
	t.Helper()
	a := do1(t, "POST", c.url+PathUsers, c.adminToken, "application/json", jsonBody(t, map[string]string{"user_id": id, "email": id + "@example.com"}))
	if a.status != http.StatusCreated {
		t.Fatalf("create user %s: %d %s", id, a.status, a.body)
	}
	var res struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	if err := json.Unmarshal(a.body, &res); err != nil || res.UserID != id || res.Token == "" {
		t.Fatalf("create user answer %s", a.body)
	}
	c.tokens[id] = res.Token
	return res.Token
}

type created struct {
	ID    string `json:"value_id"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Block uint64 `json:"block"`
}

// put registers an item for user.
func (c *clusterEnv) put(t testing.TB, user, name string, data []byte) created {
	t.Helper()
	a := do1(t, "POST", c.url+PathValues+"?name="+name, c.tokens[user], "application/octet-stream", data)
	if a.status != http.StatusCreated {
		t.Fatalf("put %s: %d %s", name, a.status, a.body)
	}
	var res created
	if err := json.Unmarshal(a.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Name != name || res.Size != int64(len(data)) || res.ID == "" {
		t.Fatalf("put answer %s for %d bytes named %s", a.body, len(data), name)
	}
	return res
}

// get acquires an item as user.
func (c *clusterEnv) get(t testing.TB, user, id string) answer {
	t.Helper()
	return do1(t, "GET", c.url+PathValues+"/"+id, c.tokens[user], "", nil)
}

// mustGet acquires an item and checks its bytes.
func (c *clusterEnv) mustGet(t testing.TB, user, id string, want []byte) {
	t.Helper()
	a := c.get(t, user, id)
	if a.status != http.StatusOK {
		t.Fatalf("get %s as %s: %d %s", id, user, a.status, a.body)
	}
	if !bytes.Equal(a.body, want) {
		t.Fatalf("get %s as %s: %d bytes differ from the %d registered", id, user, len(a.body), len(want))
	}
}

type ticketAnswer struct {
	DownloadURL string    `json:"download_url"`
	Expires     time.Time `json:"expires_at"`
}

// transfer starts a transfer as user.
func (c *clusterEnv) transfer(t testing.TB, user, id string, body map[string]string) ticketAnswer {
	t.Helper()
	a := do1(t, "POST", c.url+PathValues+"/"+id+"/transfer", c.tokens[user], "application/json", jsonBody(t, body))
	if a.status != http.StatusOK {
		t.Fatalf("transfer %s: %d %s", id, a.status, a.body)
	}
	var tk ticketAnswer
	if err := json.Unmarshal(a.body, &tk); err != nil || tk.DownloadURL == "" || tk.Expires.IsZero() {
		t.Fatalf("transfer answer %s", a.body)
	}
	return tk
}

func randomData(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) admin(t testing.TB) *AdminClient {
	a, err := NewAdminClient(e.url, e.adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Timeout = 30 * time.Second
	return a
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
