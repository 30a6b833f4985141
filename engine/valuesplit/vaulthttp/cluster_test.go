package vaulthttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// Every SPEC §7 endpoint, its authentication and its error answers.
func TestClusterEndpoints(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}, maxBody: 4096})
	c := e.clusters["c1"]

	// POST /v1/users: the admin token only.
	user := jsonBody(t, map[string]string{"user_id": "alice", "email": "alice@example.com"})
	wantError(t, do1(t, "POST", c.url+PathUsers, "", "application/json", user), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathUsers, secret(t), "application/json", user), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathUsers, e.adminToken, "application/json", user), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathUsers, c.adminToken, "application/json", []byte(`{"user_id":"alice"`)), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", c.url+PathUsers, c.adminToken, "application/json", []byte(`{"user_id":"alice","email":"a@b","admin":true}`)), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", c.url+PathUsers, c.adminToken, "text/plain", user), http.StatusUnsupportedMediaType, "unsupported_media_type")
	wantError(t, do1(t, "POST", c.url+PathUsers, c.adminToken, "application/json", jsonBody(t, map[string]string{"user_id": "al ice", "email": "a@b"})), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "GET", c.url+PathUsers, c.adminToken, "", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	alice := c.addUser(t, "alice")
	c.addUser(t, "bob")
	wantError(t, do1(t, "POST", c.url+PathUsers, c.adminToken, "application/json", user), http.StatusConflict, "exists")
	// A user token is not the admin token.
	wantError(t, do1(t, "POST", c.url+PathUsers, alice, "application/json", jsonBody(t, map[string]string{"user_id": "eve", "email": "e@x"})), http.StatusUnauthorized, "unauthorized")

	// POST /v1/values?name=
	data := randomData(t, 4000)
	wantError(t, do1(t, "POST", c.url+PathValues+"?name=x", "", "", data), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathValues+"?name=x", secret(t), "", data), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathValues+"?name=x", c.adminToken, "", data), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathValues, alice, "", data), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", c.url+PathValues+"?name=", alice, "", data), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", c.url+PathValues+"?name=a%0Ab", alice, "", data), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", c.url+PathValues+"?name=big", alice, "", randomData(t, 4097)), http.StatusRequestEntityTooLarge, "too_large")
	v := c.put(t, "alice", "deed.pdf", data)
	if v.Block == 0 {
		t.Fatalf("block %d", v.Block)
	}

	// GET /v1/values
	wantError(t, do1(t, "GET", c.url+PathValues, "", "", nil), http.StatusUnauthorized, "unauthorized")
	a := do1(t, "GET", c.url+PathValues, alice, "", nil)
	var list []map[string]any
	if err := json.Unmarshal(a.body, &list); err != nil || a.status != http.StatusOK || len(list) != 1 {
		t.Fatalf("list: %d %s", a.status, a.body)
	}
	keys := []string{}
	for k := range list[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "block,created_at,name,size,value_id" || list[0]["value_id"] != v.ID || list[0]["name"] != "deed.pdf" {
		t.Fatalf("list entry %v", list[0])
	}
	if b := do1(t, "GET", c.url+PathValues, c.tokens["bob"], "", nil); b.status != http.StatusOK || strings.TrimSpace(string(b.body)) != "[]" {
		t.Fatalf("bob's empty list: %d %s", b.status, b.body)
	}

	// GET /v1/values/{id}: the owner only; 404 for anyone else.
	c.mustGet(t, "alice", v.ID, data)
	wantError(t, c.get(t, "bob", v.ID), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "GET", c.url+PathValues+"/"+v.ID, "", "", nil), http.StatusUnauthorized, "unauthorized")
	wantError(t, c.get(t, "alice", strings.Repeat("ab", 16)), http.StatusNotFound, "not_found")
	wantError(t, c.get(t, "alice", "zz"), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "DELETE", c.url+PathValues+"/"+v.ID, alice, "", nil), http.StatusMethodNotAllowed, "method_not_allowed")

	// POST /v1/values/{id}/transfer
	xfer := c.url + PathValues + "/" + v.ID + "/transfer"
	wantError(t, do1(t, "POST", xfer, "", "application/json", jsonBody(t, map[string]string{"to_user": "bob"})), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", xfer, c.tokens["bob"], "application/json", jsonBody(t, map[string]string{"to_user": "alice"})), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "POST", xfer, alice, "application/json", jsonBody(t, map[string]string{"to_user": "zed"})), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "POST", xfer, alice, "application/json", jsonBody(t, map[string]string{"to_user": "alice"})), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", xfer, alice, "application/json", []byte(`{"to":"bob"}`)), http.StatusBadRequest, "invalid")
	wantError(t, do1(t, "POST", xfer, alice, "application/json", jsonBody(t, map[string]string{"to_user": "bob", "to_cluster": "http://127.0.0.1:1"})), http.StatusNotFound, "not_found")
	tk := c.transfer(t, "alice", v.ID, map[string]string{"to_user": "bob"})
	if !strings.HasPrefix(tk.DownloadURL, c.url+PathDownloads) || time.Until(tk.Expires) < time.Hour {
		t.Fatalf("ticket %+v", tk)
	}
	// Locked until downloaded.
	wantError(t, c.get(t, "alice", v.ID), http.StatusLocked, "locked")
	wantError(t, do1(t, "POST", xfer, alice, "application/json", jsonBody(t, map[string]string{"to_user": "bob"})), http.StatusLocked, "locked")

	// GET {download_url}: the recipient's token only.
	wantError(t, do1(t, "GET", tk.DownloadURL, "", "", nil), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "GET", tk.DownloadURL, alice, "", nil), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "GET", c.url+PathDownloads+"nosuchtoken", c.tokens["bob"], "", nil), http.StatusNotFound, "not_found")
	got := do1(t, "GET", tk.DownloadURL, c.tokens["bob"], "", nil)
	if got.status != http.StatusOK || string(got.body) != string(data) || got.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("download: %d, %d bytes, %s", got.status, len(got.body), got.header.Get("Content-Type"))
	}
	wantError(t, do1(t, "GET", tk.DownloadURL, c.tokens["bob"], "", nil), http.StatusNotFound, "not_found")

	// Peer offers need the peer key.
	wantError(t, do1(t, "POST", c.url+PathPeerOffer, "", "application/octet-stream", data), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathPeerOffer, alice, "application/octet-stream", data), http.StatusUnauthorized, "unauthorized")
	wantError(t, do1(t, "POST", c.url+PathPeerOffer, e.peerKey, "application/octet-stream", data), http.StatusBadRequest, "invalid")

	// Health, readiness, metrics, unknown paths.
	for _, p := range []string{"/healthz", "/readyz"} {
		if a := do1(t, "GET", c.url+p, "", "", nil); a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", p, a.status, a.body)
		}
	}
	wantError(t, do1(t, "GET", c.url+"/v2/values", alice, "", nil), http.StatusNotFound, "not_found")
	m := do1(t, "GET", c.url+"/metrics", "", "", nil)
	for _, want := range []string{"conto_vault_cluster_items_stored_total 1", "conto_vault_cluster_downloads_total 1",
		`conto_vault_cluster_transfers_total{scope="local"} 1`, `conto_vault_cluster_requests_total{route="value",status="404"}`} {
		if !strings.Contains(string(m.body), want) {
			t.Fatalf("metrics lack %q:\n%s", want, m.body)
		}
	}
}

// The default upload limit is the SPEC's 64 MiB.
func TestDefaultBodyLimit(t *testing.T) {
	if DefaultMaxItemBody != 64<<20 {
		t.Fatalf("DefaultMaxItemBody = %d", DefaultMaxItemBody)
	}
	e := newEnv(t, envOptions{clusters: []string{"c1"}})
	c := e.clusters["c1"]
	c.addUser(t, "alice")
	// Announced larger than the limit: refused before anything is read.
	req, _ := http.NewRequest("POST", c.url+PathValues+"?name=big", strings.NewReader("x"))
	req.ContentLength = 64<<20 + 1
	req.Header.Set("Authorization", "Bearer "+c.tokens["alice"])
	resp, err := httpc.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("64 MiB + 1: %d", resp.StatusCode)
		}
	} // else: the server answered and closed before the client sent the body; also a refusal
}

// Register, then acquire: identical bytes for sizes around the head's
// length and a large item.
func TestRegisterAcquireIdentical(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}})
	c := e.clusters["c1"]
	c.addUser(t, "alice")
	for _, n := range []int{0, 1, 29, 30, 31, 45, 4096, 1<<20 + 3} {
		d := randomData(t, n)
		v := c.put(t, "alice", "item.bin", d)
		c.mustGet(t, "alice", v.ID, d)
	}
}

// A transfer within a cluster: the recipient downloads identical bytes
// and owns the item; the former owner gets 404.
func TestTransferWithinCluster(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}})
	c := e.clusters["c1"]
	c.addUser(t, "alice")
	c.addUser(t, "bob")
	d := randomData(t, 100_000)
	v := c.put(t, "alice", "will.txt", d)
	tk := c.transfer(t, "alice", v.ID, map[string]string{"to_user": "bob"})
	a := do1(t, "GET", tk.DownloadURL, c.tokens["bob"], "", nil)
	if a.status != http.StatusOK || string(a.body) != string(d) {
		t.Fatalf("download: %d, %d bytes", a.status, len(a.body))
	}
	c.mustGet(t, "bob", v.ID, d)
	wantError(t, c.get(t, "alice", v.ID), http.StatusNotFound, "not_found")
	wantError(t, do1(t, "POST", c.url+PathValues+"/"+v.ID+"/transfer", c.tokens["alice"], "application/json",
		jsonBody(t, map[string]string{"to_user": "bob"})), http.StatusNotFound, "not_found")
	// Bob can pass it on, back to alice.
	tk = c.transfer(t, "bob", v.ID, map[string]string{"to_user": "alice", "to_cluster": c.url})
	if a := do1(t, "GET", tk.DownloadURL, c.tokens["alice"], "", nil); a.status != http.StatusOK || string(a.body) != string(d) {
		t.Fatalf("download back: %d", a.status)
	}
	wantError(t, c.get(t, "bob", v.ID), http.StatusNotFound, "not_found")
}

// A transfer to another cluster: the body travels over the peer endpoint,
// the recipient downloads identical bytes there, the sender gets 404.
func TestTransferAcrossClusters(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1", "c2"}})
	c1, c2 := e.clusters["c1"], e.clusters["c2"]
	c1.addUser(t, "alice")
	c2.addUser(t, "bob")
	d := randomData(t, 300_000)
	v := c1.put(t, "alice", "house.deed", d)
	tk := c1.transfer(t, "alice", v.ID, map[string]string{"to_user": "bob", "to_cluster": c2.url})
	if !strings.HasPrefix(tk.DownloadURL, c2.url+PathDownloads) {
		t.Fatalf("download URL %s is not on c2 (%s)", tk.DownloadURL, c2.url)
	}
	// The download URL does not work on the sender's cluster, nor for alice.
	wantError(t, do1(t, "GET", c1.url+strings.TrimPrefix(tk.DownloadURL, c2.url), c1.tokens["alice"], "", nil), http.StatusNotFound, "not_found")
	a := do1(t, "GET", tk.DownloadURL, c2.tokens["bob"], "", nil)
	if a.status != http.StatusOK || string(a.body) != string(d) {
		t.Fatalf("download on c2: %d, %d bytes", a.status, len(a.body))
	}
	c2.mustGet(t, "bob", v.ID, d)
	wantError(t, c1.get(t, "alice", v.ID), http.StatusNotFound, "not_found")
	// The body left c1's store.
	if _, err := c1.cluster.Store().Get(mustItem(t, v.ID)); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("c1 still holds the record: %v", err)
	}
	// A cluster id works as to_cluster too.
	tk = c2.transfer(t, "bob", v.ID, map[string]string{"to_user": "alice", "to_cluster": "c1"})
	if !strings.HasPrefix(tk.DownloadURL, c1.url+PathDownloads) {
		t.Fatalf("download URL %s is not on c1", tk.DownloadURL)
	}
	if a := do1(t, "GET", tk.DownloadURL, c1.tokens["alice"], "", nil); a.status != http.StatusOK || string(a.body) != string(d) {
		t.Fatalf("download back on c1: %d %s", a.status, a.body[:min(len(a.body), 200)])
	}
	wantError(t, c2.get(t, "bob", v.ID), http.StatusNotFound, "not_found")

	// An offer with a wrong key, or for no pending transfer, is refused.
	meta, _ := json.Marshal(vs.Offer{Transfer: vs.OpID{1}, Item: vs.ItemID{2}, Name: "x", Size: 1, ToUser: "bob"})
	for _, key := range []string{"", secret(t), e.keys["c1"]} {
		req, _ := http.NewRequest("POST", c2.url+PathPeerOffer, strings.NewReader(strings.Repeat("x", 64)))
		req.Header.Set(OfferHeader, base64.RawURLEncoding.EncodeToString(meta))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("offer with key %q: %d", key, resp.StatusCode)
		}
	}
	pc, _ := NewPeerClient(c2.url, e.peerKey, nil)
	_, err := pc.Offer(ctxT(t), vs.Offer{Transfer: vs.OpID{1}, Item: vs.ItemID{2}, Name: "x", Size: 1, ToUser: "bob", Body: make([]byte, 64)})
	if !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("offer for no transfer: %v, want ErrNotFound", err)
	}
}

func mustItem(t *testing.T, s string) vs.ItemID {
	id, err := vs.ParseItemID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// After a rotation every item still acquires identically, and the
// clusters' stores move to the new epoch.
func TestRotateThenAcquireIdentical(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1", "c2"}})
	c1, c2 := e.clusters["c1"], e.clusters["c2"]
	c1.addUser(t, "alice")
	c2.addUser(t, "bob")
	items := map[string][]byte{}
	for i := range 4 {
		d := randomData(t, 1000*(i+1))
		items[c1.put(t, "alice", "a", d).ID] = d
	}
	db := randomData(t, 777)
	vb := c2.put(t, "bob", "b", db)
	ctx := ctxT(t)
	for round := range 3 {
		rot, err := e.admin(t).Rotate(ctx)
		if err != nil || rot.To != rot.From+1 || len(rot.Clusters) != 2 {
			t.Fatalf("rotate: %+v, %v", rot, err)
		}
		for id, d := range items {
			c1.mustGet(t, "alice", id, d)
		}
		// c2 catches up by its sync job rather than by a stale request.
		if err := c2.cs.SyncIfRotated(ctx); err != nil {
			t.Fatal(err)
		}
		if c1.cluster.Store().Epoch() != rot.To || c2.cluster.Store().Epoch() != rot.To {
			t.Fatalf("round %d: stores at %d and %d, center at %d", round, c1.cluster.Store().Epoch(), c2.cluster.Store().Epoch(), rot.To)
		}
		c2.mustGet(t, "bob", vb.ID, db)
	}
	metric(t, e.url, "conto_vault_rotations_total", "3")
	metric(t, e.url, "conto_vault_handle_epoch", "4")
}

// A copy of a cluster's store taken before a rotation cannot be turned
// into the item afterwards — not even with the cluster's key — while the
// cluster itself still serves it.
func TestStolenStoreUselessAfterRotation(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}})
	c := e.clusters["c1"]
	c.addUser(t, "alice")
	d := randomData(t, 50_000)
	v := c.put(t, "alice", "secret.bin", d)
	item := mustItem(t, v.ID)
	ctx := ctxT(t)

	// Steal: copy the live store, as a thief with read access to the disk
	// would.
	stolen := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(stolen, os.DirFS(filepath.Join(c.dir, "store"))); err != nil {
		t.Fatal(err)
	}
	// Before the rotation the stolen copy is as good as the original:
	// this is what the rotation takes away.
	thief := openThief(t, stolen, e)
	if got, _, err := thief.Get(ctx, "alice", item); err != nil || string(got) != string(d) {
		t.Fatalf("stolen copy before rotation: %v (the test's premise)", err)
	}
	thief.Close()
	rec, err := c.cluster.Store().Get(item)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := e.admin(t).Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.cs.SyncIfRotated(ctx); err != nil { // the real cluster re-keys and acknowledges
		t.Fatal(err)
	}
	c.mustGet(t, "alice", v.ID, d)

	// The stolen handle names nothing now, in either epoch.
	_, err = c.client.Acquire(ctx, vs.AcquireRequest{Cluster: "c1", User: "alice", Epoch: rec.Epoch, Handle: rec.Handle})
	if !errors.Is(err, vs.ErrStaleEpoch) {
		t.Fatalf("stolen handle at its epoch: %v, want ErrStaleEpoch", err)
	}
	_, err = c.client.Acquire(ctx, vs.AcquireRequest{Cluster: "c1", User: "alice", Epoch: rec.Epoch + 1, Handle: rec.Handle})
	if !errors.Is(err, vs.ErrUnknownHandle) {
		t.Fatalf("stolen handle at the new epoch: %v, want ErrUnknownHandle", err)
	}
	// The mapping that would convert it is refused to everyone.
	if _, err := c.client.Mapping(ctx, "c1", rec.Epoch); !errors.Is(err, vs.ErrRefused) {
		t.Fatalf("old mapping: %v, want ErrRefused", err)
	}
	// A whole cluster run over the copy with the real key gets nothing.
	thief = openThief(t, stolen, e)
	defer thief.Close()
	got, _, err := thief.Get(ctx, "alice", item)
	if err == nil || got != nil {
		t.Fatalf("stolen copy after rotation gave %d bytes", len(got))
	}
	if !errors.Is(err, vs.ErrRefused) {
		t.Fatalf("stolen copy after rotation: %v, want ErrRefused", err)
	}
	// The body alone is not the item: the window the center keeps is
	// missing, so it does not decrypt with any key it holds.
	body, err := thief.Store().Body(item)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), string(d[:64])) {
		t.Fatal("the body holds plaintext")
	}
}

// openThief opens a cluster over a stolen store copy with the cluster's
// own credentials.
func openThief(t *testing.T, dir string, e *env) *vs.Cluster {
	t.Helper()
	cc, err := NewCenterClient(e.url, "c1", e.keys["c1"], nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := vs.OpenCluster(vs.ClusterConfig{ID: "c1", Dir: dir, Center: cc})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Tokens survive a restart; only hashes are on disk; a new token replaces
// the old one.
func TestUserTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), UserTokensFile)
	u, err := OpenUserTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	tok1, err := u.Issue("alice")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := u.User(tok1); !ok || got != "alice" {
		t.Fatal("fresh token unknown")
	}
	if _, ok := u.User(tok1 + "x"); ok {
		t.Fatal("altered token accepted")
	}
	u.Close()
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), tok1) {
		t.Fatal("token stored in clear")
	}
	u, err = OpenUserTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if got, ok := u.User(tok1); !ok || got != "alice" || !u.Has("alice") {
		t.Fatal("token lost on reopen")
	}
	tok2, _ := u.Issue("alice")
	if _, ok := u.User(tok1); ok {
		t.Fatal("replaced token still accepted")
	}
	if got, ok := u.User(tok2); !ok || got != "alice" {
		t.Fatal("new token unknown")
	}
	if _, err := u.Issue("bad id"); !errors.Is(err, vs.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
}

// classify and the client's decoding agree on every code.
func TestErrorCodesRoundTrip(t *testing.T) {
	for _, k := range errorKinds {
		status, code := classify(k.err)
		if status != k.status || code != k.code {
			t.Fatalf("%v → %d %s, want %d %s", k.err, status, code, k.status, k.code)
		}
		got := decodeRemoteError(status, jsonBody(t, errorBody{Error: wireError{Code: code, Message: "m"}}))
		want := k.err
		if k.err == context.DeadlineExceeded || k.err == context.Canceled {
			want = ErrUnavailable
		}
		if !errors.Is(got, want) {
			t.Fatalf("code %s decodes to %v, want %v", code, got, want)
		}
	}
	if _, code := classify(errors.New("other")); code != "internal" {
		t.Fatal(code)
	}
	if err := decodeRemoteError(502, []byte("<html>bad gateway</html>")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("proxy page: %v", err)
	}
}

// An item generated on the cluster (claim 5): an electronic-money note with
// an amount, registered like an upload and acquired by its owner only.
func TestGenerateNote(t *testing.T) {
	e := newEnv(t, envOptions{clusters: []string{"c1"}})
	c := e.clusters["c1"]
	c.addUser(t, "alice")
	c.addUser(t, "bob")
	a := do1(t, "POST", c.url+PathValues+"?name=note-1&generate=note&amount=2500&currency=JPY", c.tokens["alice"], "", nil)
	if a.status != http.StatusCreated {
		t.Fatalf("generate: %d %s", a.status, a.body)
	}
	var res created
	if err := json.Unmarshal(a.body, &res); err != nil || res.ID == "" {
		t.Fatalf("generate answer %s", a.body)
	}
	got := c.get(t, "alice", res.ID)
	var n vs.Note
	if got.status != 200 || json.Unmarshal(got.body, &n) != nil || n.Kind != "note" || n.Amount != "2500" ||
		n.Currency != "JPY" || n.Issuer != "c1" || len(n.Serial) != 32 || int64(len(got.body)) != res.Size {
		t.Fatalf("the note: %d %s (registered %d bytes)", got.status, got.body, res.Size)
	}
	if b := c.get(t, "bob", res.ID); b.status != 404 {
		t.Fatalf("bob reads alice's note: %d", b.status)
	}
	for _, q := range []string{"generate=note&amount=0&currency=JPY", "generate=note&amount=x&currency=JPY",
		"generate=note&amount=5", "generate=coin&amount=5&currency=JPY"} {
		if a := do1(t, "POST", c.url+PathValues+"?name=bad&"+q, c.tokens["alice"], "", nil); a.status != 400 {
			t.Errorf("%s: %d %s, want 400", q, a.status, a.body)
		}
	}
	if a := do1(t, "POST", c.url+PathValues+"?name=bad&generate=note&amount=5&currency=JPY", c.tokens["alice"],
		"application/octet-stream", []byte("x")); a.status != 400 {
		t.Errorf("generate with a body: %d, want 400", a.status)
	}
}
