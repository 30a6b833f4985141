package hashchain

import (
	"bytes"
	"errors"
	"testing"
)

func TestBlockCodecRoundTrip(t *testing.T) {
	blocks, _ := run(t, history(12, 5, 4, 12, SHA256, BLAKE2b256))
	links := 0
	for _, b := range blocks {
		enc := b.AppendEncode([]byte("prefix"))
		if string(enc[:6]) != "prefix" || len(enc) != 6+blockHeaderSize+genesisSize*len(b.Genesis)+eventSize*len(b.Events) {
			t.Fatalf("AppendEncode: %d bytes", len(enc))
		}
		back, err := DecodeBlock(enc[6:])
		if err != nil {
			t.Fatal(err)
		}
		if err := CompareBlocks(b, back); err != nil {
			t.Fatal(err)
		}
		for i := range back.Events {
			if back.Events[i].Link != nil {
				links++
			}
		}
		if !bytes.Equal(back.AppendEncode(nil), enc[6:]) {
			t.Fatal("re-encoding differs")
		}
	}
	if links == 0 {
		t.Fatal("no links in the history: the link fields went untested")
	}
	empty := &Block{Alg: SHA256, Version: 1}
	back, err := DecodeBlock(empty.AppendEncode(nil))
	if err != nil || len(back.Genesis) != 0 || len(back.Events) != 0 || back.Version != 1 {
		t.Fatalf("empty block: %+v %v", back, err)
	}
}

// blockBalances is the documented 40-byte layout of balances in a block:
// the four u64s, the flags u16, then 6 reserved zero bytes.
func blockBalances(b *Balances) []byte {
	return cat(le64(b.DebitsPending), le64(b.DebitsPosted), le64(b.CreditsPending), le64(b.CreditsPosted),
		le16(b.Flags), make([]byte, 6))
}

// blockEvent is the documented 288-byte layout of an event in a block,
// written out field by field.
func blockEvent(ev *Event) []byte {
	flags, link := byte(0), make([]byte, 48)
	if ev.Link != nil {
		flags, link = 1, cat(le128(ev.Link.ID), ev.Link.M[:])
	}
	return cat([]byte{ev.Kind, flags, byte(ev.DebitPrevAlg), byte(ev.CreditPrevAlg)}, le32(ev.Slot), le128(ev.ID),
		le64(ev.Timestamp), le128(ev.DebitID), le128(ev.CreditID), ev.M[:], blockBalances(&ev.Debit),
		blockBalances(&ev.Credit), ev.DebitPrev[:], ev.CreditPrev[:], link)
}

// Every field sits where the documented layout says.
func TestBlockLayout(t *testing.T) {
	// A BLAKE2b batch after a SHA-256 one: its events' heads before are of
	// both algorithms.
	blocks, _ := run(t, history(13, 3, 2, 4, SHA256, BLAKE2b256))
	b := blocks[1]
	b.Events[1].Link = &Link{ID: getU128(pat(0x70, 16)), M: patHash(0x90)}
	b.Events[2].Link = nil
	// Flags with two non-zero bytes, different on each side, so the byte
	// order and the sides show.
	b.Events[1].Debit.Flags, b.Events[1].Credit.Flags = 0x8021, 0x4008
	enc := b.AppendEncode(nil)
	if n := 256 + 48*len(b.Genesis) + 288*len(b.Events); len(enc) != n {
		t.Fatalf("block of %d bytes, want %d", len(enc), n)
	}
	var st [StampSize]byte
	b.Stamp.Encode(st[:])
	header := cat([]byte{2, byte(b.Alg), 0, 0}, le32(uint32(len(b.Genesis))), le32(uint32(len(b.Events))),
		make([]byte, 4), le64(b.Version), le64(b.Time), st[:], b.Prev[:], b.System[:], b.Root[:])
	if !bytes.Equal(enc[:256], header) {
		t.Fatalf("header layout:\n got %x\nwant %x", enc[:256], header)
	}
	p := enc[256:]
	for i, g := range b.Genesis {
		if want := cat(le128(g.ID), g.Hash[:]); !bytes.Equal(p[:48], want) {
			t.Fatalf("genesis entry %d layout:\n got %x\nwant %x", i, p[:48], want)
		}
		p = p[48:]
	}
	algs := map[[2]Alg]bool{}
	links, kinds := map[bool]bool{}, map[uint8]bool{}
	for i := range b.Events {
		ev := &b.Events[i]
		if want := blockEvent(ev); !bytes.Equal(p[:288], want) {
			t.Fatalf("event %d layout:\n got %x\nwant %x", i, p[:288], want)
		}
		algs[[2]Alg{ev.DebitPrevAlg, ev.CreditPrevAlg}] = true
		links[ev.Link != nil], kinds[ev.Kind] = true, true
		p = p[288:]
	}
	// The layout was checked on what it must tell apart.
	if !algs[[2]Alg{SHA256, BLAKE2b256}] && !algs[[2]Alg{BLAKE2b256, SHA256}] || !links[true] || !links[false] ||
		!kinds[EventTransfer] || !kinds[EventExpiry] || b.Events[1].DebitPrev == b.Events[1].CreditPrev {
		t.Fatalf("the block lacks cases: head algs %v, links %v, kinds %v", algs, links, kinds)
	}
	// And decoding reads every field back from there.
	back, err := DecodeBlock(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := CompareBlocks(b, back); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeBlockRejects(t *testing.T) {
	blocks, _ := run(t, history(14, 3, 2, 4, SHA256))
	good := blocks[1].AppendEncode(nil) // an expiry first, then transfers
	if _, err := DecodeBlock(good); err != nil {
		t.Fatal(err)
	}
	if ev := blocks[1].Events; ev[0].Kind != EventExpiry || ev[1].Kind != EventTransfer || ev[1].Link != nil {
		t.Fatal("the block does not open with an expiry, then a transfer without a link")
	}
	ev0 := blockHeaderSize + genesisSize*len(blocks[1].Genesis) // the expiry
	ev1 := ev0 + eventSize                                      // a transfer
	cases := map[string]func(b []byte) []byte{
		"empty":                        func([]byte) []byte { return nil },
		"short header":                 func(b []byte) []byte { return b[:blockHeaderSize-1] },
		"format 1":                     func(b []byte) []byte { b[0] = 1; return b },
		"format 3":                     func(b []byte) []byte { b[0] = 3; return b },
		"alg":                          func(b []byte) []byte { b[1] = 9; return b },
		"header reserved":              func(b []byte) []byte { b[13] = 1; return b },
		"header reserved 2":            func(b []byte) []byte { b[2] = 1; return b },
		"trailing byte":                func(b []byte) []byte { return append(b, 0) },
		"missing byte":                 func(b []byte) []byte { return b[:len(b)-1] },
		"event count":                  func(b []byte) []byte { b[8]++; return b },
		"huge counts":                  func(b []byte) []byte { copy(b[4:12], bytes.Repeat([]byte{0xff}, 8)); return b },
		"event kind":                   func(b []byte) []byte { b[ev1] = 3; return b },
		"event kind zero":              func(b []byte) []byte { b[ev1] = 0; return b },
		"event flags":                  func(b []byte) []byte { b[ev1+1] = 2; return b },
		"event flags high":             func(b []byte) []byte { b[ev1+1] = 0x81; return b },
		"debit head alg zero":          func(b []byte) []byte { b[ev1+2] = 0; return b },
		"debit head alg 3":             func(b []byte) []byte { b[ev1+2] = 3; return b },
		"credit head alg zero":         func(b []byte) []byte { b[ev1+3] = 0; return b },
		"credit head alg 9":            func(b []byte) []byte { b[ev1+3] = 9; return b },
		"expiry debit head alg":        func(b []byte) []byte { b[ev0+2] = 0xff; return b },
		"debit balances reserved":      func(b []byte) []byte { b[ev1+130] = 1; return b },
		"debit balances reserved end":  func(b []byte) []byte { b[ev1+135] = 0x80; return b },
		"credit balances reserved":     func(b []byte) []byte { b[ev1+170] = 1; return b },
		"credit balances reserved end": func(b []byte) []byte { b[ev1+175] = 0x80; return b },
		"expiry slot":                  func(b []byte) []byte { b[ev0+4] = 1; return b },
		"link id without flag":         func(b []byte) []byte { b[ev1+240] = 1; return b },
		"link id end without flag":     func(b []byte) []byte { b[ev1+255] = 1; return b },
		"link m without flag":          func(b []byte) []byte { b[ev1+256] = 1; return b },
		"link m end without flag":      func(b []byte) []byte { b[ev1+287] = 1; return b },
	}
	for name, mut := range cases {
		b := mut(bytes.Clone(good))
		if blk, err := DecodeBlock(b); !errors.Is(err, ErrFormat) || blk != nil {
			t.Errorf("%s: DecodeBlock = %v, %v; want ErrFormat", name, blk, err)
		}
	}
	// The bytes next to the reserved ones are fields: setting them still
	// decodes (the checks above are on the reserved bytes exactly).
	for name, off := range map[string]int{"debit flags": ev1 + 129, "credit flags": ev1 + 169,
		"debit head before": ev1 + 176, "credit head before": ev1 + 239, "debit head alg": ev1 + 2,
		"credit head alg": ev1 + 3} {
		b := bytes.Clone(good)
		b[off] ^= 3 // keeps an alg valid: sha256 <-> blake2b-256
		if _, err := DecodeBlock(b); err != nil {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

func FuzzDecodeBlock(f *testing.F) {
	blocks, _ := run(f, history(15, 3, 3, 4, SHA256, BLAKE2b256))
	for _, b := range blocks {
		f.Add(b.AppendEncode(nil))
	}
	f.Add((&Block{Alg: SHA256}).AppendEncode(nil))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBlock(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if again := b.AppendEncode(nil); !bytes.Equal(again, data) {
			t.Fatalf("decoded block re-encodes differently")
		}
		_ = b.Leaves()
	})
}
