package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// ---- generators ----------------------------------------------------------

func codecGenU128(t *rapid.T, label string) Uint128 {
	// Mix small values, boundary values and arbitrary ones so that both the
	// Hi == 0 fast path and the full 128-bit path are exercised.
	switch rapid.IntRange(0, 3).Draw(t, label+".kind") {
	case 0:
		return U128(rapid.Uint64Range(0, 100).Draw(t, label+".small"))
	case 1:
		return rapid.SampledFrom([]Uint128{
			{}, {Lo: 1}, MaxUint128, {Hi: 1}, {Lo: ^uint64(0)}, {Hi: ^uint64(0)},
			{Lo: 10000000000000000000}, {Lo: 9999999999999999999},
		}).Draw(t, label+".edge")
	}
	return Uint128{Lo: rapid.Uint64().Draw(t, label+".lo"), Hi: rapid.Uint64().Draw(t, label+".hi")}
}

func codecRandAccount(t *rapid.T) Account {
	return Account{
		ID:             codecGenU128(t, "id"),
		DebitsPending:  rapid.Uint64().Draw(t, "debits_pending"),
		DebitsPosted:   rapid.Uint64().Draw(t, "debits_posted"),
		CreditsPending: rapid.Uint64().Draw(t, "credits_pending"),
		CreditsPosted:  rapid.Uint64().Draw(t, "credits_posted"),
		UserData128:    codecGenU128(t, "user_data_128"),
		UserData64:     rapid.Uint64().Draw(t, "user_data_64"),
		UserData32:     rapid.Uint32().Draw(t, "user_data_32"),
		Reserved:       rapid.Uint32().Draw(t, "reserved"),
		Ledger:         rapid.Uint32().Draw(t, "ledger"),
		Code:           rapid.Uint16().Draw(t, "code"),
		Flags:          AccountFlags(rapid.Uint16().Draw(t, "flags")),
		Timestamp:      rapid.Uint64().Draw(t, "timestamp"),
		Version:        rapid.Uint64().Draw(t, "version"),
	}
}

func codecRandTransfer(t *rapid.T) Transfer {
	return Transfer{
		ID:              codecGenU128(t, "id"),
		DebitAccountID:  codecGenU128(t, "debit_account_id"),
		CreditAccountID: codecGenU128(t, "credit_account_id"),
		Amount:          rapid.Uint64().Draw(t, "amount"),
		PendingID:       codecGenU128(t, "pending_id"),
		UserData128:     codecGenU128(t, "user_data_128"),
		UserData64:      rapid.Uint64().Draw(t, "user_data_64"),
		UserData32:      rapid.Uint32().Draw(t, "user_data_32"),
		Timeout:         rapid.Uint32().Draw(t, "timeout"),
		Ledger:          rapid.Uint32().Draw(t, "ledger"),
		Code:            rapid.Uint16().Draw(t, "code"),
		Flags:           TransferFlags(rapid.Uint16().Draw(t, "flags")),
		Timestamp:       rapid.Uint64().Draw(t, "timestamp"),
	}
}

// ---- round trips ---------------------------------------------------------

func TestCodecAccountRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := codecRandAccount(t)
		buf := make([]byte, RecordSize)
		for i := range buf {
			buf[i] = 0xAA // EncodeAccount must overwrite every byte, tail included
		}
		EncodeAccount(buf, &a)
		if !bytes.Equal(buf[104:], make([]byte, 24)) {
			t.Fatalf("reserved tail not zeroed: %x", buf[104:])
		}
		got, err := DecodeAccount(buf)
		if err != nil {
			t.Fatalf("DecodeAccount: %v", err)
		}
		if got != a {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
		}
		// Batch decode of two copies.
		batch := append(append([]byte{}, buf...), buf...)
		as, err := DecodeAccounts(batch)
		if err != nil || len(as) != 2 || as[0] != a || as[1] != a {
			t.Fatalf("DecodeAccounts: %v %+v", err, as)
		}
	})
}

func TestCodecTransferRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := codecRandTransfer(t)
		buf := make([]byte, RecordSize)
		for i := range buf {
			buf[i] = 0x55
		}
		EncodeTransfer(buf, &tr)
		if !bytes.Equal(buf[120:], make([]byte, 8)) {
			t.Fatalf("reserved tail not zeroed: %x", buf[120:])
		}
		got, err := DecodeTransfer(buf)
		if err != nil {
			t.Fatalf("DecodeTransfer: %v", err)
		}
		if got != tr {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, tr)
		}
		batch := append(append([]byte{}, buf...), buf...)
		ts, err := DecodeTransfers(batch)
		if err != nil || len(ts) != 2 || ts[0] != tr || ts[1] != tr {
			t.Fatalf("DecodeTransfers: %v %+v", err, ts)
		}
	})
}

// ---- byte offsets against SPEC §3 ----------------------------------------

// codecField is one field of a hand-built record: SPEC's byte offset, its
// width and the little-endian value expected there.
type codecField struct {
	name   string
	offset int
	size   int // 2, 4, 8 or 16
	lo, hi uint64
}

func codecExpectBytes(fields []codecField) []byte {
	b := make([]byte, RecordSize)
	for _, f := range fields {
		switch f.size {
		case 2:
			binary.LittleEndian.PutUint16(b[f.offset:], uint16(f.lo))
		case 4:
			binary.LittleEndian.PutUint32(b[f.offset:], uint32(f.lo))
		case 8:
			binary.LittleEndian.PutUint64(b[f.offset:], f.lo)
		case 16:
			binary.LittleEndian.PutUint64(b[f.offset:], f.lo)
			binary.LittleEndian.PutUint64(b[f.offset+8:], f.hi)
		}
	}
	return b
}

func codecCheckFields(t *testing.T, got []byte, fields []codecField) {
	t.Helper()
	covered := make([]bool, RecordSize)
	for _, f := range fields {
		want := codecExpectBytes([]codecField{f})[f.offset : f.offset+f.size]
		if !bytes.Equal(got[f.offset:f.offset+f.size], want) {
			t.Errorf("%s at [%d,%d): got %x want %x", f.name, f.offset, f.offset+f.size,
				got[f.offset:f.offset+f.size], want)
		}
		for i := f.offset; i < f.offset+f.size; i++ {
			if covered[i] {
				t.Fatalf("test bug: byte %d covered twice", i)
			}
			covered[i] = true
		}
	}
	for i, c := range covered {
		if !c && got[i] != 0 {
			t.Errorf("byte %d is not part of any field but is %#x", i, got[i])
		}
	}
}

func TestCodecAccountLayout(t *testing.T) {
	a := Account{
		ID:             Uint128{Lo: 0x0102030405060708, Hi: 0x1112131415161718},
		DebitsPending:  0x2122232425262728,
		DebitsPosted:   0x3132333435363738,
		CreditsPending: 0x4142434445464748,
		CreditsPosted:  0x5152535455565758,
		UserData128:    Uint128{Lo: 0x6162636465666768, Hi: 0x7172737475767778},
		UserData64:     0x8182838485868788,
		UserData32:     0x91929394,
		Reserved:       0xA1A2A3A4,
		Ledger:         0xB1B2B3B4,
		Code:           0xC1C2,
		Flags:          0xD1D2,
		Timestamp:      0xE1E2E3E4E5E6E7E8,
		Version:        0xF1F2F3F4F5F6F7F8,
	}
	fields := []codecField{
		{"id", 0, 16, a.ID.Lo, a.ID.Hi},
		{"debits_pending", 16, 8, a.DebitsPending, 0},
		{"debits_posted", 24, 8, a.DebitsPosted, 0},
		{"credits_pending", 32, 8, a.CreditsPending, 0},
		{"credits_posted", 40, 8, a.CreditsPosted, 0},
		{"user_data_128", 48, 16, a.UserData128.Lo, a.UserData128.Hi},
		{"user_data_64", 64, 8, a.UserData64, 0},
		{"user_data_32", 72, 4, uint64(a.UserData32), 0},
		{"reserved", 76, 4, uint64(a.Reserved), 0},
		{"ledger", 80, 4, uint64(a.Ledger), 0},
		{"code", 84, 2, uint64(a.Code), 0},
		{"flags", 86, 2, uint64(a.Flags), 0},
		{"timestamp", 88, 8, a.Timestamp, 0},
		{"version", 96, 8, a.Version, 0},
	}
	buf := make([]byte, RecordSize)
	EncodeAccount(buf, &a)
	codecCheckFields(t, buf, fields)
	if want := codecExpectBytes(fields); !bytes.Equal(buf, want) {
		t.Fatalf("encoded account:\n got %x\nwant %x", buf, want)
	}
	// Spot-check the first bytes literally: little-endian id.
	if buf[0] != 0x08 || buf[7] != 0x01 || buf[8] != 0x18 || buf[15] != 0x11 {
		t.Fatalf("id is not little-endian: %x", buf[:16])
	}
	got, err := DecodeAccount(codecExpectBytes(fields))
	if err != nil || got != a {
		t.Fatalf("decode of SPEC layout: %v\n got %+v\nwant %+v", err, got, a)
	}
}

func TestCodecTransferLayout(t *testing.T) {
	tr := Transfer{
		ID:              Uint128{Lo: 0x0102030405060708, Hi: 0x1112131415161718},
		DebitAccountID:  Uint128{Lo: 0x2122232425262728, Hi: 0x3132333435363738},
		CreditAccountID: Uint128{Lo: 0x4142434445464748, Hi: 0x5152535455565758},
		Amount:          0x6162636465666768,
		PendingID:       Uint128{Lo: 0x7172737475767778, Hi: 0x8182838485868788},
		UserData128:     Uint128{Lo: 0x9192939495969798, Hi: 0xA1A2A3A4A5A6A7A8},
		UserData64:      0xB1B2B3B4B5B6B7B8,
		UserData32:      0xC1C2C3C4,
		Timeout:         0xC5C6C7C8,
		Ledger:          0xD1D2D3D4,
		Code:            0xD5D6,
		Flags:           0xD7D8,
		Timestamp:       0xE1E2E3E4E5E6E7E8,
	}
	fields := []codecField{
		{"id", 0, 16, tr.ID.Lo, tr.ID.Hi},
		{"debit_account_id", 16, 16, tr.DebitAccountID.Lo, tr.DebitAccountID.Hi},
		{"credit_account_id", 32, 16, tr.CreditAccountID.Lo, tr.CreditAccountID.Hi},
		{"amount", 48, 8, tr.Amount, 0},
		{"pending_id", 56, 16, tr.PendingID.Lo, tr.PendingID.Hi},
		{"user_data_128", 72, 16, tr.UserData128.Lo, tr.UserData128.Hi},
		{"user_data_64", 88, 8, tr.UserData64, 0},
		{"user_data_32", 96, 4, uint64(tr.UserData32), 0},
		{"timeout", 100, 4, uint64(tr.Timeout), 0},
		{"ledger", 104, 4, uint64(tr.Ledger), 0},
		{"code", 108, 2, uint64(tr.Code), 0},
		{"flags", 110, 2, uint64(tr.Flags), 0},
		{"timestamp", 112, 8, tr.Timestamp, 0},
	}
	buf := make([]byte, RecordSize)
	EncodeTransfer(buf, &tr)
	codecCheckFields(t, buf, fields)
	if want := codecExpectBytes(fields); !bytes.Equal(buf, want) {
		t.Fatalf("encoded transfer:\n got %x\nwant %x", buf, want)
	}
	got, err := DecodeTransfer(codecExpectBytes(fields))
	if err != nil || got != tr {
		t.Fatalf("decode of SPEC layout: %v\n got %+v\nwant %+v", err, got, tr)
	}
}

// ---- reserved bytes and batch framing ------------------------------------

func TestCodecAccountReservedTail(t *testing.T) {
	for pos := 104; pos < RecordSize; pos++ {
		for _, v := range []byte{0x01, 0x80, 0xFF} {
			buf := make([]byte, RecordSize)
			a := Account{ID: U128(7), Ledger: 1, Code: 1}
			EncodeAccount(buf, &a)
			buf[pos] = v
			if _, err := DecodeAccount(buf); !errors.Is(err, ErrReservedByte) {
				t.Fatalf("byte %d = %#x: DecodeAccount err = %v, want ErrReservedByte", pos, v, err)
			}
			if _, err := DecodeAccounts(buf); !errors.Is(err, ErrReservedByte) {
				t.Fatalf("byte %d = %#x: DecodeAccounts err = %v, want ErrReservedByte", pos, v, err)
			}
		}
	}
	// The in-record reserved u32 at [76] is decoded as is (Apply answers
	// reserved_field for it), not rejected by the codec.
	buf := make([]byte, RecordSize)
	buf[76] = 1
	a, err := DecodeAccount(buf)
	if err != nil || a.Reserved != 1 {
		t.Fatalf("reserved u32: %v %+v", err, a)
	}
}

func TestCodecTransferReservedTail(t *testing.T) {
	for pos := 120; pos < RecordSize; pos++ {
		for _, v := range []byte{0x01, 0x80, 0xFF} {
			buf := make([]byte, RecordSize)
			tr := Transfer{ID: U128(7), DebitAccountID: U128(1), CreditAccountID: U128(2), Ledger: 1, Code: 1}
			EncodeTransfer(buf, &tr)
			buf[pos] = v
			if _, err := DecodeTransfer(buf); !errors.Is(err, ErrReservedByte) {
				t.Fatalf("byte %d = %#x: DecodeTransfer err = %v, want ErrReservedByte", pos, v, err)
			}
			if _, err := DecodeTransfers(buf); !errors.Is(err, ErrReservedByte) {
				t.Fatalf("byte %d = %#x: DecodeTransfers err = %v, want ErrReservedByte", pos, v, err)
			}
		}
	}
}

func TestCodecShortRecord(t *testing.T) {
	for _, n := range []int{0, 1, 127} {
		if _, err := DecodeAccount(make([]byte, n)); !errors.Is(err, ErrRecordLength) {
			t.Errorf("DecodeAccount(%d bytes) err = %v, want ErrRecordLength", n, err)
		}
		if _, err := DecodeTransfer(make([]byte, n)); !errors.Is(err, ErrRecordLength) {
			t.Errorf("DecodeTransfer(%d bytes) err = %v, want ErrRecordLength", n, err)
		}
	}
}

func TestCodecBatchFraming(t *testing.T) {
	type dec struct {
		name string
		fn   func([]byte) (int, error)
	}
	decoders := []dec{
		{"accounts", func(b []byte) (int, error) { v, err := DecodeAccounts(b); return len(v), err }},
		{"transfers", func(b []byte) (int, error) { v, err := DecodeTransfers(b); return len(v), err }},
	}
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			for _, tc := range []struct {
				n    int
				want error
			}{
				{0, ErrEmptyBatch},
				{1, ErrRecordLength},
				{127, ErrRecordLength},
				{129, ErrRecordLength},
				{255, ErrRecordLength},
				{3*RecordSize + 64, ErrRecordLength},
				{(MaxBatchEvents + 1) * RecordSize, ErrBatchTooBig},
				{(MaxBatchEvents+1)*RecordSize + 1, ErrRecordLength},
			} {
				n, err := d.fn(make([]byte, tc.n))
				if !errors.Is(err, tc.want) {
					t.Errorf("%d bytes: err = %v, want %v", tc.n, err, tc.want)
				}
				if n != 0 {
					t.Errorf("%d bytes: got %d records alongside an error", tc.n, n)
				}
			}
			for _, records := range []int{1, 2, MaxBatchEvents} {
				n, err := d.fn(make([]byte, records*RecordSize))
				if err != nil || n != records {
					t.Errorf("%d zero records: n=%d err=%v", records, n, err)
				}
			}
		})
	}
	if got := fmt.Sprint(ErrBatchTooBig); !strings.Contains(got, "8189") {
		t.Errorf("ErrBatchTooBig = %q, want it to name 8189", got)
	}
}

func TestCodecErrorNamesRecordIndex(t *testing.T) {
	const records = 5
	buf := make([]byte, records*RecordSize)
	buf[3*RecordSize+125] = 9 // account tail of record 3
	_, err := DecodeAccounts(buf)
	if !errors.Is(err, ErrReservedByte) || !strings.Contains(err.Error(), "record 3") {
		t.Fatalf("DecodeAccounts err = %v, want ErrReservedByte naming record 3", err)
	}
	buf = make([]byte, records*RecordSize)
	buf[3*RecordSize+121] = 9 // transfer tail of record 3
	buf[4*RecordSize+127] = 9 // and a later bad one: the first is reported
	_, err = DecodeTransfers(buf)
	if !errors.Is(err, ErrReservedByte) || !strings.Contains(err.Error(), "record 3") ||
		strings.Contains(err.Error(), "record 4") {
		t.Fatalf("DecodeTransfers err = %v, want ErrReservedByte naming record 3", err)
	}
	// A transfer's bytes [104,120) are ledger/code/flags/timestamp, not
	// reserved: an account-tail position inside a transfer must decode.
	buf = make([]byte, RecordSize)
	buf[110] = 1
	if _, err := DecodeTransfers(buf); err != nil {
		t.Fatalf("transfer flags byte rejected: %v", err)
	}
}

// ---- Uint128 --------------------------------------------------------------

func codecU128Big(u Uint128) *big.Int {
	b := new(big.Int).SetUint64(u.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.Lo))
}

func TestUint128StringRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := codecGenU128(t, "u")
		s := u.String()
		if want := codecU128Big(u).String(); s != want {
			t.Fatalf("String(%#v) = %q, want %q", u, s, want)
		}
		got, err := ParseUint128(s)
		if err != nil || got != u {
			t.Fatalf("ParseUint128(%q) = %#v, %v; want %#v", s, got, err, u)
		}
	})
}

func TestUint128ParseMatchesBig(t *testing.T) {
	// Arbitrary digit strings of 1..41 digits: ParseUint128 must agree with
	// math/big on the value and on overflow.
	maxBig := codecU128Big(MaxUint128)
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[0-9]{1,41}`).Draw(t, "s")
		got, err := ParseUint128(s)
		want, _ := new(big.Int).SetString(s, 10)
		switch {
		case len(s) > 39:
			// Current behaviour: more than 39 characters is rejected even
			// with leading zeros.
			if !errors.Is(err, ErrUint128Syntax) {
				t.Fatalf("ParseUint128(%q) = %v, %v; want syntax error", s, got, err)
			}
		case want.Cmp(maxBig) > 0:
			if !errors.Is(err, ErrUint128Syntax) {
				t.Fatalf("ParseUint128(%q) = %v, %v; want overflow", s, got, err)
			}
		default:
			if err != nil || codecU128Big(got).Cmp(want) != 0 {
				t.Fatalf("ParseUint128(%q) = %v, %v; want %v", s, got, err, want)
			}
		}
	})
}

func TestUint128Edges(t *testing.T) {
	const maxStr = "340282366920938463463374607431768211455"
	ok := []struct {
		in   string
		want Uint128
	}{
		{"0", Uint128{}},
		{"1", U128(1)},
		{"18446744073709551615", Uint128{Lo: ^uint64(0)}},
		{"18446744073709551616", Uint128{Hi: 1}},
		{maxStr, MaxUint128},
		// Leading zeros are accepted by the current code (within 39 chars).
		{"01", U128(1)},
		{"007", U128(7)},
		{"000000000000000000000000000000000000000", Uint128{}}, // 39 zeros
	}
	for _, tc := range ok {
		got, err := ParseUint128(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseUint128(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	if MaxUint128.String() != maxStr {
		t.Errorf("MaxUint128.String() = %q", MaxUint128.String())
	}
	if (Uint128{}).String() != "0" {
		t.Errorf("zero String() = %q", Uint128{}.String())
	}
	if (Uint128{Hi: 1}).String() != "18446744073709551616" {
		t.Errorf("2^64 String() = %q", Uint128{Hi: 1}.String())
	}
	bad := []string{
		"",
		"340282366920938463463374607431768211456", // max+1
		"340282366920938463463374607431768211460",
		"999999999999999999999999999999999999999",
		"3402823669209384634633746074317682114550", // 40 digits
		"0000000000000000000000000000000000000001", // 40 chars with leading zeros
		"-1", "+1", " 1", "1 ", "1_000", "0x10", "1e3", "12a", "١", "1.0",
	}
	for _, in := range bad {
		got, err := ParseUint128(in)
		if !errors.Is(err, ErrUint128Syntax) {
			t.Errorf("ParseUint128(%q) = %#v, %v; want ErrUint128Syntax", in, got, err)
		}
		if err != nil && got != (Uint128{}) {
			t.Errorf("ParseUint128(%q) returned %#v alongside an error", in, got)
		}
	}
}

func TestUint128Less(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := codecGenU128(t, "a"), codecGenU128(t, "b")
		if got, want := a.Less(b), codecU128Big(a).Cmp(codecU128Big(b)) < 0; got != want {
			t.Fatalf("%v.Less(%v) = %v", a, b, got)
		}
	})
}

// ---- results ---------------------------------------------------------------

func TestResultCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Result {
			return Result{Timestamp: rapid.Uint64().Draw(t, "ts"), Status: rapid.Uint32().Draw(t, "status")}
		}), 0, 20).Draw(t, "results")
		prefix := []byte("xy")
		enc := EncodeResults(append([]byte{}, prefix...), rs)
		if !bytes.Equal(enc[:2], prefix) || len(enc) != 2+ResultSize*len(rs) {
			t.Fatalf("EncodeResults did not append: len %d", len(enc))
		}
		body := enc[2:]
		for i, r := range rs {
			b := body[i*ResultSize:]
			if binary.LittleEndian.Uint64(b) != r.Timestamp || binary.LittleEndian.Uint32(b[8:]) != r.Status ||
				binary.LittleEndian.Uint32(b[12:]) != 0 {
				t.Fatalf("result %d layout: %x", i, b[:ResultSize])
			}
		}
		got, err := DecodeResults(body)
		if err != nil || len(got) != len(rs) {
			t.Fatalf("DecodeResults: %v, %d results", err, len(got))
		}
		for i := range rs {
			if got[i] != rs[i] {
				t.Fatalf("result %d: got %+v want %+v", i, got[i], rs[i])
			}
		}
	})
}

func TestResultCodecRejects(t *testing.T) {
	enc := EncodeResults(nil, []Result{{1, 2}, {3, 4}, {5, 6}})
	for pos := 12; pos < 16; pos++ {
		b := append([]byte{}, enc...)
		b[ResultSize+pos] = 1
		_, err := DecodeResults(b)
		if !errors.Is(err, ErrReservedByte) || !strings.Contains(err.Error(), "result 1") {
			t.Errorf("reserved byte %d: err = %v, want ErrReservedByte naming result 1", pos, err)
		}
	}
	for _, n := range []int{1, 15, 17, 47} {
		if _, err := DecodeResults(make([]byte, n)); err == nil {
			t.Errorf("DecodeResults(%d bytes) accepted", n)
		}
	}
	if rs, err := DecodeResults(nil); err != nil || len(rs) != 0 {
		t.Errorf("DecodeResults(nil) = %v, %v", rs, err)
	}
}

// ---- native fuzzing ------------------------------------------------------

func codecFuzzSeeds(f *testing.F, encode func(int) []byte) {
	f.Add([]byte{})
	f.Add(make([]byte, 1))
	f.Add(make([]byte, RecordSize))
	f.Add(make([]byte, RecordSize+1))
	f.Add(make([]byte, 2*RecordSize))
	f.Add(encode(1))
	f.Add(encode(3))
	bad := encode(2)
	bad[len(bad)-1] = 1
	f.Add(bad)
	ff := bytes.Repeat([]byte{0xFF}, RecordSize)
	f.Add(ff)
}

func FuzzDecodeTransfers(f *testing.F) {
	codecFuzzSeeds(f, func(n int) []byte {
		var out []byte
		for i := 0; i < n; i++ {
			b := make([]byte, RecordSize)
			tr := Transfer{ID: U128(uint64(i + 1)), DebitAccountID: U128(1), CreditAccountID: U128(2),
				Amount: uint64(10 * i), Ledger: 1, Code: 1, Flags: TransferFlags(i), Timeout: uint32(i)}
			EncodeTransfer(b, &tr)
			out = append(out, b...)
		}
		return out
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := DecodeTransfers(data)
		if err != nil {
			if ts != nil {
				t.Fatalf("non-nil result with error %v", err)
			}
			if !errors.Is(err, ErrEmptyBatch) && !errors.Is(err, ErrRecordLength) &&
				!errors.Is(err, ErrBatchTooBig) && !errors.Is(err, ErrReservedByte) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(ts) != len(data)/RecordSize {
			t.Fatalf("%d transfers from %d bytes", len(ts), len(data))
		}
		out := make([]byte, len(data))
		for i := range ts {
			EncodeTransfer(out[i*RecordSize:], &ts[i])
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-encode differs:\n got %x\nwant %x", out, data)
		}
	})
}

func FuzzDecodeAccounts(f *testing.F) {
	codecFuzzSeeds(f, func(n int) []byte {
		var out []byte
		for i := 0; i < n; i++ {
			b := make([]byte, RecordSize)
			a := Account{ID: U128(uint64(i + 1)), Ledger: uint32(i), Code: 1, Flags: AccountFlags(i),
				UserData64: uint64(i) << 40, Reserved: uint32(i)}
			EncodeAccount(b, &a)
			out = append(out, b...)
		}
		return out
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := DecodeAccounts(data)
		if err != nil {
			if as != nil {
				t.Fatalf("non-nil result with error %v", err)
			}
			if !errors.Is(err, ErrEmptyBatch) && !errors.Is(err, ErrRecordLength) &&
				!errors.Is(err, ErrBatchTooBig) && !errors.Is(err, ErrReservedByte) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(as) != len(data)/RecordSize {
			t.Fatalf("%d accounts from %d bytes", len(as), len(data))
		}
		out := make([]byte, len(data))
		for i := range as {
			EncodeAccount(out[i*RecordSize:], &as[i])
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-encode differs:\n got %x\nwant %x", out, data)
		}
	})
}
