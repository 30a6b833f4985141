package transactor

import (
	"context"
	"reflect"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
)

func sampleTxn() *store.Txn {
	return &store.Txn{
		AccountChecks: []store.AccountCheck{{ID: ledger.Uint128{Lo: 1, Hi: 2}, Version: 3}},
		KeyChecks:     []store.KeyCheck{{Key: "a/é", Version: 0}},
		Puts:          []store.Put{{Key: "a/é", Value: []byte{0, 1, 2}}, {Key: "b", Value: []byte{}}},
		Transfers:     []ledger.Transfer{{ID: ledger.U128(9), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2), Amount: 5, Ledger: 1, Code: 1}},
	}
}

func TestTxnCommandRoundTrip(t *testing.T) {
	in := sampleTxn()
	got, ts, err := decodeTxn(encodeTxn(in, 42))
	if err != nil || ts != 42 {
		t.Fatalf("decode: %v (time %d)", err, ts)
	}
	if !reflect.DeepEqual(in, got) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
}

func FuzzDecodeTxn(f *testing.F) {
	f.Add(encodeTxn(sampleTxn(), 1))
	f.Add(encodeTxn(&store.Txn{Puts: []store.Put{{Key: "k"}}}, 7))
	f.Add([]byte{commandMagic, commandFormat, kindTxn, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		txn, ts, err := decodeTxn(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		if again := encodeTxn(txn, ts); string(again[headerSize:]) != string(data[headerSize:]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestTxnThroughRaft(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.submit(accountsBatch())
	leader := c.waitLeader()
	res, err := leader.p.SubmitTxn(context.Background(), &store.Txn{
		KeyChecks: []store.KeyCheck{{Key: "invoice/7", Version: 0}},
		Puts:      []store.Put{{Key: "invoice/7", Value: []byte("paid")}},
		Transfers: []ledger.Transfer{{ID: ledger.U128(500), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2), Amount: 9, Ledger: 1, Code: 1}},
	})
	if err != nil || res.Status != store.TxnCommitted {
		t.Fatalf("txn: %+v %v", res, err)
	}
	// The same check again conflicts: the key now exists.
	again, err := leader.p.SubmitTxn(context.Background(), &store.Txn{
		KeyChecks: []store.KeyCheck{{Key: "invoice/7", Version: 0}},
		Puts:      []store.Put{{Key: "invoice/7", Value: []byte("twice")}},
	})
	if err != nil || again.Status != store.TxnConflict || again.Conflicts[0].Actual != res.Version {
		t.Fatalf("second txn: %+v %v", again, err)
	}
	c.waitConverged()
	for _, nd := range c.live() {
		v, ver, ok, err := nd.p.Store().Get("invoice/7", ^uint64(0))
		if err != nil || !ok || string(v) != "paid" || ver != res.Version {
			t.Fatalf("%s: invoice/7 = %q v%d %v %v", nd.id, v, ver, ok, err)
		}
	}
}
