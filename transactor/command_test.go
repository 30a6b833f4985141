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
		again := encodeCommand(b)
		if data[1] == commandFormat && string(again) != string(data) {
			t.Fatal("what decodes does not re-encode to the same bytes")
		}
		if b2, err := decodeCommand(again, 0, nil); err != nil || !reflect.DeepEqual(b, b2) {
			t.Fatalf("re-encoded command decodes to %+v, %v; want %+v", b2, err, b)
		}
	})
}

func TestCommandCarriesSealAndCorrections(t *testing.T) {
	in := &ledger.Batch{Kind: ledger.KindTransfers, Time: 5, Transfers: make([]ledger.Transfer, 3),
		Seal:        ledger.Seal{Alg: 2, Stamp: [128]byte{1, 2, 3, 127: 9}},
		Corrections: []ledger.Correction{{Index: 0, Corrects: ledger.U128(70)}, {Index: 2, Corrects: ledger.Uint128{Lo: 1, Hi: 2}}}}
	out, err := decodeCommand(encodeCommand(in), 9, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Seal != in.Seal || !reflect.DeepEqual(out.Corrections, in.Corrections) {
		t.Fatalf("seal %+v corrections %+v; want %+v %+v", out.Seal, out.Corrections, in.Seal, in.Corrections)
	}
	bad := []ledger.Correction{{Index: 3}}             // no such event
	dup := []ledger.Correction{{Index: 1}, {Index: 1}} // twice the same event
	for _, cs := range [][]ledger.Correction{bad, dup} {
		in.Corrections = cs
		if _, err := decodeCommand(encodeCommand(in), 9, nil); err == nil {
			t.Fatalf("corrections %+v decoded", cs)
		}
	}
}

// Entries written before hash chains (format 1: no stamp, no corrections)
// still decode, so an old log replays.
func TestCommandReadsFormat1(t *testing.T) {
	v1 := make([]byte, headerSize+ledger.RecordSize)
	v1[0], v1[1], v1[2] = commandMagic, commandFormatV1, byte(ledger.KindTransfers)
	le.PutUint32(v1[4:], 1)
	le.PutUint64(v1[8:], 33)
	tr := ledger.Transfer{ID: ledger.U128(5), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2), Ledger: 1, Code: 1}
	ledger.EncodeTransfer(v1[headerSize:], &tr)
	b, err := decodeCommand(v1, 3, nil)
	if err != nil || b.Time != 33 || len(b.Transfers) != 1 || b.Transfers[0] != tr || b.Seal != (ledger.Seal{}) {
		t.Fatalf("format 1: %+v, %v", b, err)
	}
	v1[3] = 1 // format 1 had no algorithm byte
	if _, err := decodeCommand(v1, 3, nil); err == nil {
		t.Fatal("format 1 with a non-zero byte 3 decoded")
	}
}
