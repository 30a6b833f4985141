package audit

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway"
	"github.com/conto-ledger/conto/gateway/client"
	"github.com/conto-ledger/conto/transactor/transactortest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// honestServer starts a real node (Raft, Badger) and its HTTP API on
// 127.0.0.1, loads a small ledger with every kind of chain event, signs
// checkpoints and returns the API's base URL and the node's key.
func honestServer(t *testing.T) (string, [32]byte) {
	t.Helper()
	node := transactortest.StartNode(t, 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(gateway.Config{Engine: engine.New(node), Node: node, Logger: quiet})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	base := "http://" + ln.Addr().String()
	c := client.New(base, client.WithJSON())
	ctx := context.Background()
	ok := func(res []ledger.Result, err error) { t.Helper(); mustOK(t, res, err) }
	var accts []ledger.Account
	for i := uint64(1); i <= 8; i++ {
		a := ledger.Account{ID: ledger.U128(i), Ledger: 1, Code: 1}
		if i == 2 {
			a.Flags = ledger.AccountHistory
		}
		accts = append(accts, a)
	}
	ok(c.CreateAccounts(ctx, accts))
	// Transfers within each partition (the engine refuses cross-partition
	// ones); amounts are distinct so a lie about one is unambiguous.
	var ts []ledger.Transfer
	id := uint64(100)
	for dr := uint64(1); dr <= 8; dr++ {
		for cr := uint64(1); cr <= 8; cr++ {
			if dr == cr || node.Map().OfID(dr, 0) != node.Map().OfID(cr, 0) {
				continue
			}
			id++
			ts = append(ts, ledger.Transfer{ID: ledger.U128(id), DebitAccountID: ledger.U128(dr), CreditAccountID: ledger.U128(cr),
				Amount: 1000 + id, Ledger: 1, Code: 1})
		}
	}
	ok(c.CreateTransfers(ctx, ts))
	p := ts[0]
	p.ID, p.Amount, p.Flags = ledger.U128(900), 77, ledger.TransferPending
	ok(c.CreateTransfers(ctx, []ledger.Transfer{p}))
	post := ledger.Transfer{ID: ledger.U128(901), PendingID: ledger.U128(900), Amount: 70, Flags: ledger.TransferPostPendingTransfer}
	ok(c.CreateTransfers(ctx, []ledger.Transfer{post}))
	cps, err := c.SignCheckpoints(ctx)
	if err != nil || len(cps) == 0 {
		t.Fatalf("sign checkpoints: %v, %v", cps, err)
	}
	var key [32]byte
	copy(key[:], node.PublicKey())
	return base, key
}

func mustOK(t *testing.T, res []ledger.Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != 0 {
			t.Fatalf("event %d: status %v", i, ledger.TransferStatus(r.Status))
		}
	}
}

func TestHonestServerVerifies(t *testing.T) {
	base, key := honestServer(t)
	rep, err := Verify(context.Background(), Options{URL: base, Trusted: [][32]byte{key}, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accounts != 8 || rep.Transfers < 20 || rep.Checkpoints == 0 || rep.TrustedOnFirstUse {
		t.Fatalf("report %+v", rep)
	}
	// Without a pinned key, the server's is taken and reported.
	rep, err = Verify(context.Background(), Options{URL: base})
	if err != nil || !rep.TrustedOnFirstUse || rep.Key != key {
		t.Fatalf("unpinned: %+v, %v", rep, err)
	}
	// The server's two partitions both answer; a third it "left out" fails.
	if _, err := Verify(context.Background(), Options{URL: base, Trusted: [][32]byte{key}, Partitions: 2}); err != nil {
		t.Fatalf("with the partition count: %v", err)
	}
	if _, err := Verify(context.Background(), Options{URL: base, Trusted: [][32]byte{key}, Partitions: 3}); err == nil ||
		!strings.Contains(err.Error(), "partition 2 has no signed checkpoint") {
		t.Fatalf("a partition missing from the checkpoints: %v", err)
	}
	// A pinned key that is not the server's fails.
	if _, err := Verify(context.Background(), Options{URL: base, Trusted: [][32]byte{{1}}}); err == nil || !strings.Contains(err.Error(), "untrusted key") {
		t.Fatalf("another pinned key: %v", err)
	}
}

// liar is a proxy in front of an honest server that alters one answer: the
// first response whose path matches and whose body contains from, with
// from replaced by to.
type liar struct {
	target   *url.URL
	path     func(string) bool
	from, to string
	lied     atomic.Bool
}

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, l.target.String()+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if l.path(r.URL.Path) && bytes.Contains(body, []byte(l.from)) && l.lied.CompareAndSwap(false, true) {
		body = bytes.Replace(body, []byte(l.from), []byte(l.to), 1)
	}
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// A server that alters one amount (or balance, or hash) in one answer of
// any kind is caught.
func TestLyingServerIsCaught(t *testing.T) {
	base, key := honestServer(t)
	target, _ := url.Parse(base)
	prefix := func(p string) func(string) bool { return func(s string) bool { return strings.HasPrefix(s, p) } }
	suffix := func(p string) func(string) bool { return func(s string) bool { return strings.HasSuffix(s, p) } }
	cases := []struct {
		name     string
		path     func(string) bool
		from, to string
		want     string
	}{
		{"an amount in a chain block", prefix("/v1/chain/blocks"), `"amount":"1101"`, `"amount":"1102"`, "intermediate hash"},
		{"an amount in a transfer lookup", func(s string) bool {
			return strings.HasPrefix(s, "/v1/transfers/") && !strings.HasSuffix(s, "/proof")
		}, `"amount":"`, `"amount":"9`, "GET /v1/transfers answers"},
		{"an amount in a proof", suffix("/proof"), `"amount":"`, `"amount":"9`, "is not the one in the chain blocks"},
		{"a hash on a proof's audit path", suffix("/proof"), `"audit_path":["`, `"audit_path":["0`, "proof"},
		{"a root on a proof's system path", suffix("/proof"), `"root":"`, `"root":"f`, "proof"},
		{"a balance in an account lookup", func(s string) bool {
			return strings.HasPrefix(s, "/v1/accounts/") && strings.Count(s, "/") == 3
		}, `"credits_posted":"`, `"credits_posted":"1`, "GET /v1/accounts answers"},
		{"a balance in an account's chain", suffix("/chain"), `"credits_posted":"1`, `"credits_posted":"2`, "chain"},
		{"a balance in a chain block event", prefix("/v1/chain/blocks"), `"debits_posted":"1`, `"debits_posted":"2`, "version"},
		{"the system hash of a checkpoint", prefix("/v1/checkpoints"), `"system":"`, `"system":"0`, "checkpoint"},
		{"a counterparty in an account's chain", suffix("/chain"), `"counterparty_id":"`, `"counterparty_id":"9`, "account"},
		{"a slot in a proof", suffix("/proof"), `"slot":0`, `"slot":1`, "hash to"},
	}
	for _, c := range cases {
		l := &liar{target: target, path: c.path, from: c.from, to: c.to}
		proxy := httptest.NewServer(l)
		_, err := Verify(context.Background(), Options{URL: proxy.URL, Trusted: [][32]byte{key}, PageSize: 3})
		proxy.Close()
		if !l.lied.Load() {
			t.Fatalf("%s: the proxy never found %q to alter", c.name, c.from)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Verify = %v; want an error naming %q", c.name, err, c.want)
		}
	}
}
