package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/shm"
	"github.com/conto-ledger/conto/transactor"
)

// Every error class crosses the ring as itself: what the HTTP side answers
// depends on it (503 outcome unknown, not_leader, 422, ...).
func TestHandoffErrorsCrossTheRing(t *testing.T) {
	nl := &transactor.NotLeaderError{Partition: 3, LeaderID: "n2", Leader: "127.0.0.1:9"}
	cases := []struct {
		name string
		err  error
		is   func(error) bool
	}{
		{"unknown outcome", fmt.Errorf("%w: leader lost", engine.ErrUnknownOutcome), func(e error) bool { return errors.Is(e, engine.ErrUnknownOutcome) }},
		{"not leader", nl, func(e error) bool {
			var got *transactor.NotLeaderError
			return errors.As(e, &got) && *got == *nl
		}},
		{"spans partitions", fmt.Errorf("events 0..2: %w", engine.ErrChainSpansPartitions), func(e error) bool { return errors.Is(e, engine.ErrChainSpansPartitions) }},
		{"timeout", context.DeadlineExceeded, func(e error) bool { return errors.Is(e, context.DeadlineExceeded) }},
		{"stopped", fmt.Errorf("%w: closing", transactor.ErrStopped), func(e error) bool { return errors.Is(e, errStopping) }},
		{"other", errors.New("disk on fire"), func(e error) bool { return e.Error() == "disk on fire" }},
	}
	for _, c := range cases {
		res, err := decodeAnswer(errorAnswer(answerCode(c.err), c.err), 1)
		if res != nil || err == nil || !c.is(err) {
			t.Errorf("%s: crossed as %v (%T)", c.name, err, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {frameBatch}, {frameBatch, answerOK, 1, 2}, {frameBatch, answerNotLeader, 0, 0, 0, 0, 9, 0}} {
		if _, err := decodeAnswer(bad, 1); !errors.Is(err, engine.ErrUnknownOutcome) {
			t.Errorf("malformed answer %v: %v, want an unknown outcome", bad, err)
		}
	}
}

// Malformed batch frames are answered with an error, never a panic, and
// commit nothing.
func TestHandoffRejectsMalformedFrames(t *testing.T) {
	node := openNode(t, 1)
	eng := engine.New(node)
	before := node.Partition(0).Store().LastApplied()
	for _, f := range [][]byte{
		{frameBatch},
		{frameBatch, batchTransfers, 1, 0, 0, 0}, // one event, no record
		{frameBatch, 9, 1, 0, 0, 0},              // unknown kind
		append(batchFrame(batchAccounts, 1), 0),  // trailing byte
		batchFrame(batchAccounts, 0),             // empty
		func() []byte { f := batchFrame(batchTransfers, 1); f[6+127] = 1; return f }(), // reserved byte
	} {
		a := serveBatch(context.Background(), eng, f)
		if len(a) < 2 || a[1] == answerOK {
			t.Fatalf("frame %x answered %x", f, a)
		}
	}
	if after := node.Partition(0).Store().LastApplied(); after != before {
		t.Fatalf("malformed frames moved the store from version %d to %d", before, after)
	}
}

// conto serve's default: the batchers commit over an in-process ring.
// Concurrent requests coalesce, each gets its own results, request errors
// keep their HTTP answers, and once the engine side is gone nothing more is
// accepted.
func TestInProcessHandoffServesTheAPI(t *testing.T) {
	node := openNode(t, 2)
	eng := engine.New(node)
	h, stop, err := InProcessHandoff(eng, func(c *shm.Conn) { ServeEngineRing(c, eng, quiet) })
	if err != nil {
		t.Fatal(err)
	}
	e := &env{node: node, eng: eng, client: &http.Client{Timeout: 10 * time.Second}, nextID: 1000}
	e.base = startServer(t, Config{Engine: eng, Node: node, Logger: quiet, Handoff: h}, e.client)

	ids := e.ids(0, 2)
	r := e.postJSON(t, "/v1/accounts", fmt.Sprintf(`[{"id":"%d","ledger":1,"code":1},{"id":"%d","ledger":1,"code":1}]`, ids[0], ids[1]))
	if r.status != 200 {
		t.Fatalf("accounts: %d %s", r.status, r.body)
	}
	const n = 64
	var wg sync.WaitGroup
	statuses := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`[{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"%d","ledger":1,"code":1}]`,
				900000+i, ids[0], ids[1], i+1)
			r := e.postJSON(t, "/v1/transfers", body)
			var res []struct{ Status string }
			if r.status != 200 || json.Unmarshal(r.body, &res) != nil || len(res) != 1 {
				statuses[i] = fmt.Sprintf("%d %s", r.status, r.body)
				return
			}
			statuses[i] = res[0].Status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != "created" {
			t.Fatalf("request %d: %s", i, s)
		}
	}
	a, ok := node.Partition(0).Store().Account(ledger.U128(ids[1]))
	if !ok || a.CreditsPosted != n*(n+1)/2 {
		t.Fatalf("credit account: %+v (found %v), want credits posted %d", a, ok, n*(n+1)/2)
	}
	// A linked chain across partitions is a request error on the engine
	// side; it must come back as the same 422.
	other := e.id(1)
	r = e.postJSON(t, "/v1/accounts", fmt.Sprintf(`[{"id":"%d","ledger":1,"code":1,"flags":["linked"]},{"id":"%d","ledger":1,"code":1}]`, e.id(0), other))
	wantError(t, r, 422, "spans_partitions")
	stop()
	r = e.postJSON(t, "/v1/transfers", fmt.Sprintf(`[{"id":"1","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":1,"code":1}]`, ids[0], ids[1]))
	if r.status != 503 {
		t.Fatalf("after the engine's ring closed: %d %s, want 503", r.status, r.body)
	}
	if _, ok := node.Partition(0).Store().Transfer(ledger.U128(1)); ok {
		t.Fatal("a transfer sent after the ring closed was applied")
	}
}
