package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway"
	"github.com/conto-ledger/conto/gateway/client"
	"github.com/conto-ledger/conto/transactor/transactortest"
)

// startConto runs a real single node and its gateway on 127.0.0.1 and
// returns the base URL.
func startConto(tb transactortest.TB) string {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node := transactortest.StartNode(tb, 1)
	srv := gateway.New(gateway.Config{Engine: engine.New(node), Node: node, Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	tb.Cleanup(cleanup)
	return "http://" + ln.Addr().String()
}

func ids(vs ...uint64) []ledger.Uint128 {
	out := make([]ledger.Uint128, len(vs))
	for i, v := range vs {
		out[i] = ledger.U128(v)
	}
	return out
}

func TestClientEndToEnd(t *testing.T) {
	base := startConto(t)
	ctx := context.Background()
	for _, c := range []*client.Client{client.New(base), client.New(base, client.WithJSON())} {
		off := uint64(0)
		if _, err := c.Account(ctx, ledger.U128(1)); err == nil {
			off = 100 // the second client works on fresh ids
		}
		res, err := c.CreateAccounts(ctx, []ledger.Account{
			{ID: ledger.U128(off + 1), Ledger: 1, Code: 1}, {ID: ledger.U128(off + 2), Ledger: 1, Code: 1, Flags: ledger.AccountHistory},
			{ID: ledger.U128(off + 1), Ledger: 1, Code: 2},
		})
		if err != nil || res[0].Status != 0 || res[1].Status != 0 || ledger.AccountStatus(res[2].Status) != ledger.AccountExistsWithDifferentCode {
			t.Fatalf("create accounts: %v %v", res, err)
		}
		tr := ledger.Transfer{ID: ledger.U128(off + 10), DebitAccountID: ledger.U128(off + 1), CreditAccountID: ledger.U128(off + 2), Amount: 7, Ledger: 1, Code: 1}
		res, err = c.CreateTransfers(ctx, []ledger.Transfer{tr, tr})
		if err != nil || res[0].Status != 0 || ledger.TransferStatus(res[1].Status) != ledger.TransferExists {
			t.Fatalf("create transfers: %v %v", res, err)
		}
		a, err := c.Account(ctx, ledger.U128(off+2))
		if err != nil || a.CreditsPosted != 7 {
			t.Fatalf("account: %+v %v", a, err)
		}
		if old, err := c.AccountAt(ctx, ledger.U128(off+2), a.Version-1); err != nil || old.CreditsPosted != 0 {
			t.Fatalf("as of %d: %+v %v", a.Version-1, old, err)
		}
		if got, err := c.Transfer(ctx, ledger.U128(off+10)); err != nil || got.Amount != 7 {
			t.Fatalf("transfer: %+v %v", got, err)
		}
		if got, err := c.LookupAccounts(ctx, ids(off+2, 999, off+1)); err != nil || len(got) != 2 || got[0].ID.Lo != off+2 {
			t.Fatalf("lookup: %+v %v", got, err)
		}
		if st, err := c.AccountTransfers(ctx, ledger.U128(off+1), client.Filter{Debits: true}); err != nil || len(st) != 1 {
			t.Fatalf("statement: %+v %v", st, err)
		}
		if bs, err := c.AccountBalances(ctx, ledger.U128(off+2), client.Filter{}); err != nil || len(bs) != 1 || bs[0].CreditsPosted != 7 {
			t.Fatalf("balances: %+v %v", bs, err)
		}
		if _, err := c.Account(ctx, ledger.U128(5555)); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("missing account: %v", err)
		}
	}
	c := client.New(base)
	key := "order/1"
	res, err := c.Txn(ctx, client.Txn{Checks: []client.Check{{Key: &key, Version: 0}}, Puts: []client.Put{{Key: key, Value: []byte("paid")}}})
	if err != nil || res.Status != "committed" {
		t.Fatalf("txn: %+v %v", res, err)
	}
	again, err := c.Txn(ctx, client.Txn{Checks: []client.Check{{Key: &key, Version: 0}}, Puts: []client.Put{{Key: key, Value: []byte("x")}}})
	if err != nil || again.Status != "conflict" || len(again.Conflicts) != 1 {
		t.Fatalf("conflicting txn: %+v %v", again, err)
	}
	if v, ver, err := c.Get(ctx, key, 0); err != nil || string(v) != "paid" || ver != res.Version {
		t.Fatalf("get: %q %d %v", v, ver, err)
	}
}

// TestClientRetriesUnknownOutcomeWithTheSameIDs puts a proxy in front of the
// server that lets the first create through and then loses its answer,
// reporting an unknown outcome. The client retries with the same ids: the
// second attempt answers exists, and the money moved once.
func TestClientRetriesUnknownOutcomeWithTheSameIDs(t *testing.T) {
	base := startConto(t)
	var lost atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, base+r.URL.String(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if r.URL.Path == "/v1/transfers" && lost.CompareAndSwap(false, true) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			w.Write([]byte(`{"outcome":"unknown","error":{"code":"outcome_unknown","message":"lost"}}`))
			return
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		w.Write(answer)
	}))
	defer proxy.Close()
	c := client.New(proxy.URL, client.WithRetries(3, 10*time.Millisecond))
	ctx := context.Background()
	if _, err := c.CreateAccounts(ctx, []ledger.Account{{ID: ledger.U128(1), Ledger: 1, Code: 1}, {ID: ledger.U128(2), Ledger: 1, Code: 1}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateTransfers(ctx, []ledger.Transfer{{ID: ledger.U128(9), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2), Amount: 5, Ledger: 1, Code: 1}})
	if err != nil || ledger.TransferStatus(res[0].Status) != ledger.TransferExists {
		t.Fatalf("retried create: %v %v (want exists: the first attempt committed)", res, err)
	}
	if a, _ := c.Account(ctx, ledger.U128(1)); a.DebitsPosted != 5 {
		t.Fatalf("debits_posted %d after one transfer of 5 retried", a.DebitsPosted)
	}
}
