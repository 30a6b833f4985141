package transactor

import (
	"reflect"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

func TestCommandRoundTripReusesScratch(t *testing.T) {
	var scratch decodeScratch
	in := &ledger.Batch{Kind: ledger.KindTransfers, Time: 77, Transfers: []ledger.Transfer{
		{ID: ledger.U128(1), DebitAccountID: ledger.U128(2), CreditAccountID: ledger.U128(3), Amount: 4, Ledger: 5, Code: 6},
		{ID: ledger.Uint128{Lo: 7, Hi: 8}, Flags: ledger.TransferPending, Timeout: 9},
	}}
	out, err := decodeCommand(encodeCommand(in), 42, &scratch)
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != 42 || out.Time != 77 || !reflect.DeepEqual(out.Transfers, in.Transfers) {
		t.Fatalf("round trip: %+v", out)
	}
	first := &scratch.transfers[0]
	if _, err := decodeCommand(encodeCommand(&ledger.Batch{Kind: ledger.KindTransfers, Transfers: in.Transfers[:1]}), 43, &scratch); err != nil {
		t.Fatal(err)
	}
	if &scratch.transfers[0] != first {
		t.Fatal("a smaller batch reallocated the scratch")
	}
	if _, err := decodeCommand([]byte{commandMagic, commandFormat, byte(ledger.KindExpire), 0}, 1, nil); err == nil {
		t.Fatal("a truncated header decoded")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeCommand(&ledger.Batch{Kind: ledger.KindAccounts, Time: 1, Accounts: []ledger.Account{{ID: ledger.U128(1), Ledger: 1, Code: 1}}}))
	f.Add(encodeCommand(&ledger.Batch{Kind: ledger.KindTransfers, Transfers: []ledger.Transfer{{ID: ledger.U128(1)}}}))
	f.Add(encodeCommand(&ledger.Batch{Kind: ledger.KindExpire, Time: 5}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeCommand(data, 1, nil)
		if err != nil {
			return
		}
		b.Version = 0
		if again := encodeCommand(b); string(again) != string(data) {
			t.Fatal("what decodes does not re-encode to the same bytes")
		}
	})
}
