package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
)

// recordingCommit commits nothing: it answers each event with its position
// in the merged batch (as Timestamp) and records the batches it saw, so the
// test can check how requests were merged and split.
type recordingCommit struct {
	mu      sync.Mutex
	batches [][]ledger.Transfer
}

func (r *recordingCommit) commit(_ context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	r.mu.Lock()
	r.batches = append(r.batches, append([]ledger.Transfer(nil), ts...))
	r.mu.Unlock()
	out := make([]ledger.Result, len(ts))
	for i := range ts {
		out[i] = ledger.Result{Timestamp: ts[i].ID.Lo}
	}
	return out, nil
}

func linkedTransfer(t *ledger.Transfer) bool { return t.Flags&ledger.TransferLinked != 0 }

func TestBatcherMergesAndSplitsExactly(t *testing.T) {
	rc := &recordingCommit{}
	b := newBatcher(rc.commit, linkedTransfer, 100, 20*time.Millisecond)
	defer b.close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for r := 0; r < 64; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := r%3 + 1
			req := make([]ledger.Transfer, n)
			for i := range req {
				req[i].ID = ledger.U128(uint64(r*10 + i + 1))
			}
			res, err := b.submit(context.Background(), req)
			if err != nil || len(res) != n {
				errs <- fmt.Errorf("request %d: %d results, err %v", r, len(res), err)
				return
			}
			for i := range res {
				if res[i].Timestamp != req[i].ID.Lo {
					errs <- fmt.Errorf("request %d got another request's result", r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(rc.batches) >= 64 {
		t.Fatalf("64 concurrent requests made %d batches: nothing was merged", len(rc.batches))
	}
	for _, batch := range rc.batches {
		if len(batch) > 100 {
			t.Fatalf("a merged batch of %d events exceeds the limit of 100", len(batch))
		}
	}
}

func TestBatcherEndsABatchAfterAnOpenChain(t *testing.T) {
	rc := &recordingCommit{}
	b := newBatcher(rc.commit, linkedTransfer, 100, 200*time.Millisecond)
	defer b.close()
	open := []ledger.Transfer{{ID: ledger.U128(1)}, {ID: ledger.U128(2), Flags: ledger.TransferLinked}}
	next := []ledger.Transfer{{ID: ledger.U128(3)}}
	done := make(chan struct{})
	go func() { b.submit(context.Background(), open); close(done) }()
	time.Sleep(20 * time.Millisecond) // the open chain is queued first
	if _, err := b.submit(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, batch := range rc.batches {
		for i, tr := range batch {
			if tr.ID.Lo == 2 && i != len(batch)-1 {
				t.Fatalf("a request ending with an open chain was merged with a later one: %v", batch)
			}
		}
	}
}

func TestBatcherShutdownRefusesQueued(t *testing.T) {
	block := make(chan struct{})
	commit := func(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
		<-block
		return make([]ledger.Result, len(ts)), nil
	}
	b := newBatcher(commit, linkedTransfer, 1, time.Millisecond)
	results := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			_, err := b.submit(context.Background(), []ledger.Transfer{{ID: ledger.U128(1)}})
			results <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(block)
	b.close()
	for i := 0; i < 20; i++ {
		select {
		case <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("a request was left waiting after shutdown")
		}
	}
}

// TestCoalescingThroughTheServer sends one transfer per request from many
// concurrent clients: every request gets its own created result, and the
// partition committed fewer batches than there were requests.
func TestCoalescingThroughTheServer(t *testing.T) {
	e := newEnv(t)
	accts := e.ids(0, 2)
	e.createAccounts(t, "[]", accts...)
	part := e.node.Partition(0)
	before := part.Store().Applied()
	const clients = 64
	ids := e.ids(0, clients) // fresh ids, unused as accounts
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.postJSON(t, "/v1/transfers", "["+transfer1(ids[c], accts[0], accts[1], 1)+"]")
			var res []resultWire
			if r.status != 200 || json.Unmarshal(r.body, &res) != nil || len(res) != 1 || res[0].Status != "created" {
				errs <- fmt.Sprintf("client %d: %d %s", c, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}
	if a := e.account(t, accts[0], ""); a.DebitsPosted != fmt.Sprint(clients) {
		t.Fatalf("debits_posted %s after %d transfers of 1", a.DebitsPosted, clients)
	}
	if used := part.Store().Applied() - before; used >= clients {
		t.Fatalf("%d requests used %d versions: nothing was coalesced", clients, used)
	}
}
