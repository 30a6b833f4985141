package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/conto-ledger/conto/partition"
	"github.com/conto-ledger/conto/transactor"
	"github.com/conto-ledger/conto/transactor/transactortest"
)

// openEngine starts a real single node with n partitions.
func openEngine(t *testing.T, n int) (*Engine, *transactor.Node) {
	t.Helper()
	node := transactortest.StartNode(t, n)
	return New(node), node
}

// idsOn returns k account ids placed on partition p.
func idsOn(m partition.Map, p, k int) []uint64 {
	var out []uint64
	for id := uint64(1); len(out) < k; id++ {
		if m.OfID(id, 0) == p {
			out = append(out, id)
		}
	}
	return out
}

func tr(id, dr, cr uint64) ledger.Transfer {
	return ledger.Transfer{ID: ledger.U128(id), DebitAccountID: ledger.U128(dr), CreditAccountID: ledger.U128(cr), Amount: 10, Ledger: 1, Code: 1}
}

func statuses(rs []ledger.Result) []ledger.TransferStatus {
	out := make([]ledger.TransferStatus, len(rs))
	for i, r := range rs {
		out[i] = ledger.TransferStatus(r.Status)
	}
	return out
}

func TestRoutingAcrossPartitions(t *testing.T) {
	e, node := openEngine(t, 4)
	m := node.Map()
	a0, a1 := idsOn(m, 0, 2), idsOn(m, 1, 2)
	var accts []ledger.Account
	for _, id := range append(append([]uint64{}, a0...), a1...) {
		accts = append(accts, ledger.Account{ID: ledger.U128(id), Ledger: 1, Code: 1})
	}
	res, err := e.CreateAccounts(context.Background(), accts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != 0 {
			t.Fatalf("account %d: status %d", i, r.Status)
		}
		p := m.OfID(accts[i].ID.Lo, 0)
		if _, ok := node.Partition(p).Store().Account(accts[i].ID); !ok {
			t.Fatalf("account %s is not on its partition %d", accts[i].ID, p)
		}
	}
	linkedCross := tr(13, a0[0], a0[1])
	linkedCross.Flags = ledger.TransferLinked
	res, err = e.CreateTransfers(context.Background(), []ledger.Transfer{
		tr(10, a0[0], a0[1]), // partition 0
		tr(11, a1[0], a1[1]), // partition 1
		tr(12, a0[0], a1[0]), // across
		linkedCross,          // chain whose second event crosses
		tr(14, a1[1], a0[1]),
		tr(15, a1[1], a1[0]), // partition 1 again, after the chain
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.TransferStatus{ledger.TransferCreated, ledger.TransferCreated, ledger.TransferAccountsInDifferentPartitions,
		ledger.TransferLinkedEventFailed, ledger.TransferAccountsInDifferentPartitions, ledger.TransferCreated}
	got := statuses(res)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	if _, ok := node.Partition(0).Store().Transfer(ledger.U128(13)); ok {
		t.Fatal("a chain that spans partitions was partly applied")
	}
	// A post that leaves the accounts zero goes to its pending transfer.
	p := tr(20, a1[0], a1[1])
	p.Flags = ledger.TransferPending
	post := ledger.Transfer{ID: ledger.U128(21), PendingID: ledger.U128(20), Amount: ledger.AmountMax, Flags: ledger.TransferPostPendingTransfer}
	if res, err = e.CreateTransfers(context.Background(), []ledger.Transfer{p}); err != nil || res[0].Status != 0 {
		t.Fatalf("pending: %v %v", res, err)
	}
	if res, err = e.CreateTransfers(context.Background(), []ledger.Transfer{post}); err != nil || res[0].Status != 0 {
		t.Fatalf("post: %v %v", statuses(res), err)
	}
	if a, _ := node.Partition(1).Store().Account(ledger.U128(a1[0])); a.DebitsPosted != 20 {
		t.Fatalf("debit account after post: %+v", a)
	}
	// A post whose pending transfer no partition knows is answered here,
	// without marking the id failed: it can be sent again later.
	unknown := ledger.Transfer{ID: ledger.U128(22), PendingID: ledger.U128(999), Flags: ledger.TransferVoidPendingTransfer}
	res, _ = e.CreateTransfers(context.Background(), []ledger.Transfer{unknown})
	if ledger.TransferStatus(res[0].Status) != ledger.TransferPendingTransferNotFound {
		t.Fatalf("unknown pending: %v", statuses(res))
	}
	for _, part := range node.Partitions() {
		if _, failed := part.Store().Transfer(ledger.U128(22)); failed {
			t.Fatal("unroutable post was committed")
		}
	}
}

func TestAccountChainAcrossPartitionsIsRejectedWhole(t *testing.T) {
	e, node := openEngine(t, 2)
	m := node.Map()
	a, b := idsOn(m, 0, 1)[0], idsOn(m, 1, 1)[0]
	_, err := e.CreateAccounts(context.Background(), []ledger.Account{
		{ID: ledger.U128(a), Ledger: 1, Code: 1, Flags: ledger.AccountLinked},
		{ID: ledger.U128(b), Ledger: 1, Code: 1},
	})
	if !errors.Is(err, ErrChainSpansPartitions) {
		t.Fatalf("err %v, want ErrChainSpansPartitions", err)
	}
	for _, p := range node.Partitions() {
		for _, id := range []uint64{a, b} {
			if _, ok := p.Store().Account(ledger.U128(id)); ok {
				t.Fatal("a rejected request applied an account")
			}
		}
	}
}

func TestRequestLimits(t *testing.T) {
	e, _ := openEngine(t, 1)
	if _, err := e.CreateTransfers(context.Background(), nil); !errors.Is(err, ledger.ErrEmptyBatch) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := e.CreateAccounts(context.Background(), make([]ledger.Account, ledger.MaxBatchEvents+1)); !errors.Is(err, ledger.ErrBatchTooBig) {
		t.Fatalf("too big: %v", err)
	}
}

func TestTxnRouting(t *testing.T) {
	e, node := openEngine(t, 4)
	m := node.Map()
	a := idsOn(m, 2, 2)
	if _, err := e.CreateAccounts(context.Background(), []ledger.Account{
		{ID: ledger.U128(a[0]), Ledger: 1, Code: 1}, {ID: ledger.U128(a[1]), Ledger: 1, Code: 1}}); err != nil {
		t.Fatal(err)
	}
	// A key in the same partition as the accounts.
	key := ""
	for i := 0; key == ""; i++ {
		if k := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26)); m.OfKey([]byte(k)) == 2 {
			key = k
		}
	}
	res, err := e.Txn(context.Background(), &store.Txn{
		AccountChecks: []store.AccountCheck{{ID: ledger.U128(a[0]), Version: 0}},
		Puts:          []store.Put{{Key: key, Value: []byte("v")}},
		Transfers:     []ledger.Transfer{tr(1, a[0], a[1])},
	})
	if err != nil || res.Status != store.TxnConflict {
		t.Fatalf("account exists, check for version 0 must conflict: %+v %v", res, err)
	}
	acct, _ := node.Partition(2).Store().Account(ledger.U128(a[0]))
	res, err = e.Txn(context.Background(), &store.Txn{
		AccountChecks: []store.AccountCheck{{ID: ledger.U128(a[0]), Version: acct.Version}},
		Puts:          []store.Put{{Key: key, Value: []byte("v")}},
		Transfers:     []ledger.Transfer{tr(1, a[0], a[1])},
	})
	if err != nil || res.Status != store.TxnCommitted {
		t.Fatalf("txn: %+v %v", res, err)
	}
	if v, ver, ok, _ := e.Get(key, ^uint64(0)); !ok || string(v) != "v" || ver != res.Version {
		t.Fatalf("get %q: %q v%d %v", key, v, ver, ok)
	}
	other := idsOn(m, 3, 1)[0]
	_, err = e.Txn(context.Background(), &store.Txn{AccountChecks: []store.AccountCheck{{ID: ledger.U128(a[0]), Version: 1}, {ID: ledger.U128(other), Version: 0}}})
	if !errors.Is(err, ErrTxnSpansPartitions) {
		t.Fatalf("spanning txn: %v", err)
	}
}
