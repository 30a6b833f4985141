package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

func TestTxnCommitConflictAndAbort(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustApply(t, s, accountsBatch(1, second, acct(1, ledger.AccountDebitsMustNotExceedCredits), acct(2, 0)))

	// "0" means must not exist: creating a key and moving money at once.
	res, err := s.ApplyTxn(2, 2*second, &Txn{
		KeyChecks:     []KeyCheck{{Key: "order/1", Version: 0}},
		AccountChecks: []AccountCheck{{ID: ledger.U128(2), Version: 1}},
		Puts:          []Put{{Key: "order/1", Value: []byte("paid")}},
		Transfers:     []ledger.Transfer{xfer(10, 2, 1, 40)},
	})
	if err != nil || res.Status != TxnCommitted || res.Version != 2 || res.Results[0].Status != 0 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	val, ver, ok, err := s.Get("order/1", ^uint64(0))
	if err != nil || !ok || string(val) != "paid" || ver != 2 {
		t.Fatalf("get after commit: %q v%d %v %v", val, ver, ok, err)
	}
	if a, _ := s.Account(ledger.U128(1)); a.CreditsPosted != 40 || a.Version != 2 {
		t.Fatalf("account 1 after commit: %+v", a)
	}

	// Stale versions: both checks fail, nothing is applied.
	res, err = s.ApplyTxn(3, 3*second, &Txn{
		KeyChecks:     []KeyCheck{{Key: "order/1", Version: 0}},
		AccountChecks: []AccountCheck{{ID: ledger.U128(1), Version: 1}},
		Puts:          []Put{{Key: "order/1", Value: []byte("twice")}},
		Transfers:     []ledger.Transfer{xfer(11, 2, 1, 1)},
	})
	if err != nil || res.Status != TxnConflict || len(res.Conflicts) != 2 {
		t.Fatalf("conflict: %+v %v", res, err)
	}
	if c := res.Conflicts[1]; !c.IsKey || c.Key != "order/1" || c.Expected != 0 || c.Actual != 2 {
		t.Fatalf("key conflict %+v", c)
	}
	if _, ok := s.Transfer(ledger.U128(11)); ok {
		t.Fatal("a conflicting transaction applied its transfer")
	}

	// A failing transfer aborts everything: no put, no failed id.
	res, err = s.ApplyTxn(4, 4*second, &Txn{
		Puts:      []Put{{Key: "order/2", Value: []byte("x")}},
		Transfers: []ledger.Transfer{xfer(12, 1, 2, 10), xfer(13, 1, 2, 1000)},
	})
	if err != nil || res.Status != TxnFailed || ledger.TransferStatus(res.Results[1].Status) != ledger.TransferExceedsCredits {
		t.Fatalf("abort: %+v %v", res, err)
	}
	if _, _, ok, _ := s.Get("order/2", ^uint64(0)); ok {
		t.Fatal("an aborted transaction wrote its put")
	}
	if _, failed := s.state.Failed(ledger.U128(13)); failed {
		t.Fatal("an aborted transaction marked an id failed")
	}

	// Puts only, then the past is still readable.
	if res, err = s.ApplyTxn(5, 5*second, &Txn{Puts: []Put{{Key: "order/1", Value: []byte("refunded")}}}); err != nil || res.Status != TxnCommitted {
		t.Fatalf("puts only: %+v %v", res, err)
	}
	if val, ver, _, _ := s.Get("order/1", 4); string(val) != "paid" || ver != 2 {
		t.Fatalf("as of 4: %q v%d", val, ver)
	}
	if _, _, ok, _ := s.Get("order/1", 1); ok {
		t.Fatal("key visible before it was written")
	}

	// Versions of keys survive a restart: the check still conflicts.
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	res, _ = s.ApplyTxn(6, 6*second, &Txn{KeyChecks: []KeyCheck{{Key: "order/1", Version: 2}}, Puts: []Put{{Key: "k", Value: nil}}})
	if res.Status != TxnConflict || res.Conflicts[0].Actual != 5 {
		t.Fatalf("after restart: %+v", res)
	}
}

func TestTxnLimits(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	cases := []*Txn{
		{},
		{Puts: []Put{{Key: "", Value: nil}}},
		{Puts: []Put{{Key: strings.Repeat("k", MaxKeyLen+1)}}},
		{Puts: []Put{{Key: "\xff\xfe"}}},
		{Puts: []Put{{Key: "big", Value: make([]byte, MaxValueLen+1)}}},
	}
	for i, c := range cases {
		if _, err := s.ApplyTxn(uint64(i+1), 1, c); !errors.Is(err, ErrBadTxn) {
			t.Errorf("case %d: err %v, want ErrBadTxn", i, err)
		}
	}
	if s.LastApplied() != 0 {
		t.Fatal("a rejected transaction applied something")
	}
}
