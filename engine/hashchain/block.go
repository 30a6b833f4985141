package hashchain

import (
	"encoding/binary"
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
)

// Balances are an account's balances and flags after an event, as its head
// (and the event's m) cover them. Flags change when a closing transfer
// closes the account or its void re-opens it.
type Balances struct {
	DebitsPending, DebitsPosted, CreditsPending, CreditsPosted uint64
	Flags                                                      uint16
}

// The kinds of chain event.
const (
	EventTransfer uint8 = 1 // a committed transfer, with its record
	EventExpiry   uint8 = 2 // the expiry of a pending transfer, which has no record of its own
)

// Link is what a correcting transfer names: the transfer it corrects and that
// transfer's intermediate hash (seed 004 claim 41: records are never
// rewritten, a correction names the hash of what it corrects).
type Link struct {
	ID ledger.Uint128
	M  Hash
}

// Event is one entry of both parties' chains: a transfer or an expiry.
type Event struct {
	Kind      uint8
	Slot      uint32         // transfer: its index in the batch's transfer block; expiry: 0
	ID        ledger.Uint128 // transfer: its id; expiry: the pending transfer that expired
	Timestamp uint64         // transfer: its record's timestamp; expiry: the engine time of the expiry
	DebitID   ledger.Uint128
	CreditID  ledger.Uint128
	M         Hash     // the intermediate hash; Apply fills it
	Debit     Balances // the debit account's balances after the event
	Credit    Balances // the credit account's balances after the event
	Link      *Link    // set on a correction
	// DebitPrev and CreditPrev are the parties' heads before the event and
	// before any migration it caused, with their algorithms; Apply fills
	// them. Stored, they let one block serve each party's chain records
	// and the commitments m covers without replaying the chains.
	DebitPrev, CreditPrev       Hash
	DebitPrevAlg, CreditPrevAlg Alg
}

// GenesisEntry is an account created by a batch and its genesis hash.
type GenesisEntry struct {
	ID   ledger.Uint128
	Hash Hash
}

// Block is the chain record of one committed batch, stored under the batch's
// version. With the batch's account and transfer records and the heads before
// it, it is everything needed to recompute and check the batch's chains.
type Block struct {
	Alg     Alg
	Version uint64
	Time    uint64 // the batch time (ns)
	Stamp   Stamp
	Prev    Hash // the system hash of the previous block (zero for the first)
	System  Hash // SystemHash(Alg, Prev, Version, Time, Root)
	Root    Hash // MerkleRoot(Alg, Leaves())
	Genesis []GenesisEntry
	Events  []Event
}

// Leaves returns the block's Merkle leaves in order: the genesis hash of every
// account the batch created, then the m of every event.
func (b *Block) Leaves() []Hash {
	out := make([]Hash, 0, len(b.Genesis)+len(b.Events))
	for _, g := range b.Genesis {
		out = append(out, g.Hash)
	}
	for i := range b.Events {
		out = append(out, b.Events[i].M)
	}
	return out
}

// Sizes of the block encoding's parts.
const (
	blockFormat     = 2
	blockHeaderSize = 256
	genesisSize     = 48
	eventSize       = 288
	balancesSize    = 40
	eventHasLink    = 1 // the only defined bit of an event's flags byte
)

// EncodedSize is the length of the block's encoding.
func (b *Block) EncodedSize() int {
	return blockHeaderSize + genesisSize*len(b.Genesis) + eventSize*len(b.Events)
}

// AppendEncode appends the block's encoding to dst and returns it. All
// integers are little-endian, a u128 is its low then its high u64, reserved
// bytes are zero. Header, 256 bytes:
//
//	[0]       format  u8 (2)
//	[1]       alg     u8
//	[2:4]     reserved
//	[4:8]     genesis count u32
//	[8:12]    event count   u32
//	[12:16]   reserved
//	[16:24]   version u64
//	[24:32]   time    u64
//	[32:160]  stamp (Stamp.Encode)
//	[160:192] prev system hash
//	[192:224] system hash
//	[224:256] Merkle root
//
// then the genesis entries, 48 bytes each: id u128, hash [32]; then the
// events, 288 bytes each:
//
//	[0]       kind  u8
//	[1]       flags u8 (bit 0: has link; other bits reserved)
//	[2]       debit head's alg before the event
//	[3]       credit head's alg before the event
//	[4:8]     slot u32
//	[8:24]    id   u128
//	[24:32]   timestamp u64
//	[32:48]   debit id  u128
//	[48:64]   credit id u128
//	[64:96]   m
//	[96:136]  debit balances: debits pending, debits posted, credits pending,
//	          credits posted (u64 each), flags u16, 6 reserved bytes
//	[136:176] credit balances: same
//	[176:208] debit head before the event
//	[208:240] credit head before the event
//	[240:256] link id u128 (zero without a link)
//	[256:288] link m       (zero without a link)
func (b *Block) AppendEncode(dst []byte) []byte {
	n := b.EncodedSize()
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	p := dst[start:]
	b.putHeader(p[:blockHeaderSize])
	p = p[blockHeaderSize:]
	for _, g := range b.Genesis {
		putU128(p, g.ID)
		copy(p[16:48], g.Hash[:])
		p = p[genesisSize:]
	}
	for i := range b.Events {
		putEvent(p[:eventSize], &b.Events[i])
		p = p[eventSize:]
	}
	return dst
}

func (b *Block) putHeader(p []byte) {
	p[0], p[1] = blockFormat, byte(b.Alg)
	le.PutUint32(p[4:], uint32(len(b.Genesis)))
	le.PutUint32(p[8:], uint32(len(b.Events)))
	le.PutUint64(p[16:], b.Version)
	le.PutUint64(p[24:], b.Time)
	b.Stamp.Encode(p[32:160])
	copy(p[160:192], b.Prev[:])
	copy(p[192:224], b.System[:])
	copy(p[224:256], b.Root[:])
}

func putEvent(p []byte, ev *Event) {
	p[0] = ev.Kind
	le.PutUint32(p[4:], ev.Slot)
	putU128(p[8:], ev.ID)
	le.PutUint64(p[24:], ev.Timestamp)
	putU128(p[32:], ev.DebitID)
	putU128(p[48:], ev.CreditID)
	copy(p[64:96], ev.M[:])
	putBalances(p[96:], &ev.Debit)
	putBalances(p[136:], &ev.Credit)
	p[2], p[3] = byte(ev.DebitPrevAlg), byte(ev.CreditPrevAlg)
	copy(p[176:208], ev.DebitPrev[:])
	copy(p[208:240], ev.CreditPrev[:])
	if ev.Link != nil {
		p[1] = eventHasLink
		putU128(p[240:], ev.Link.ID)
		copy(p[256:288], ev.Link.M[:])
	}
}

// DecodeBlock decodes a block written by AppendEncode. It is strict: the
// length must match the counts exactly, the format, algorithm and event kinds
// must be known, reserved bytes and the link fields of an event without a
// link must be zero, and an expiry's slot must be 0, so every block that
// decodes re-encodes to the same bytes. Errors wrap ErrFormat and name the
// offending part.
func DecodeBlock(data []byte) (*Block, error) {
	b, ng, ne, err := decodeHeader(data)
	if err != nil {
		return nil, err
	}
	p := data[blockHeaderSize:]
	b.Genesis = make([]GenesisEntry, ng)
	for i := range b.Genesis {
		b.Genesis[i].ID = getU128(p)
		copy(b.Genesis[i].Hash[:], p[16:48])
		p = p[genesisSize:]
	}
	b.Events = make([]Event, ne)
	for i := range b.Events {
		if err := decodeEvent(p[:eventSize], &b.Events[i]); err != nil {
			return nil, fmt.Errorf("block version %d: event %d: %w", b.Version, i, err)
		}
		p = p[eventSize:]
	}
	return b, nil
}

// decodeHeader decodes and checks a block's header, and checks that data is
// exactly as long as its counts say.
func decodeHeader(data []byte) (b *Block, genesis, events int, err error) {
	if len(data) < blockHeaderSize {
		return nil, 0, 0, fmt.Errorf("block of %d bytes, shorter than its %d-byte header: %w", len(data), blockHeaderSize, ErrFormat)
	}
	switch {
	case data[0] != blockFormat:
		return nil, 0, 0, fmt.Errorf("block format %d, want %d: %w", data[0], blockFormat, ErrFormat)
	case !Alg(data[1]).Valid():
		return nil, 0, 0, fmt.Errorf("block alg %d: %w", data[1], ErrFormat)
	case !allZero(data[2:4]) || !allZero(data[12:16]):
		return nil, 0, 0, fmt.Errorf("block header reserved bytes not zero: %w", ErrFormat)
	}
	ng, ne := uint64(le.Uint32(data[4:])), uint64(le.Uint32(data[8:]))
	// Computed in uint64, so no count can overflow the check.
	if want := blockHeaderSize + genesisSize*ng + eventSize*ne; uint64(len(data)) != want {
		return nil, 0, 0, fmt.Errorf("block of %d bytes, but %d genesis entries and %d events take %d: %w",
			len(data), ng, ne, want, ErrFormat)
	}
	b = &Block{Alg: Alg(data[1]), Version: le.Uint64(data[16:]), Time: le.Uint64(data[24:])}
	b.Stamp, _ = DecodeStamp(data[32:160]) // exactly StampSize bytes: cannot fail
	copy(b.Prev[:], data[160:192])
	copy(b.System[:], data[192:224])
	copy(b.Root[:], data[224:256])
	return b, int(ng), int(ne), nil
}

// decodeEvent decodes and checks one 288-byte event.
func decodeEvent(p []byte, ev *Event) error {
	kind, flags, slot := p[0], p[1], le.Uint32(p[4:])
	switch {
	case kind != EventTransfer && kind != EventExpiry:
		return fmt.Errorf("kind %d: %w", kind, ErrFormat)
	case flags&^eventHasLink != 0 || !allZero(p[130:136]) || !allZero(p[170:176]):
		return fmt.Errorf("reserved bits set: %w", ErrFormat)
	case !Alg(p[2]).Valid() || !Alg(p[3]).Valid():
		return fmt.Errorf("head algs %d and %d: %w", p[2], p[3], ErrFormat)
	case kind == EventExpiry && slot != 0:
		return fmt.Errorf("expiry with slot %d: %w", slot, ErrFormat)
	case flags&eventHasLink == 0 && !allZero(p[240:288]):
		return fmt.Errorf("link fields set without the link flag: %w", ErrFormat)
	}
	*ev = Event{Kind: kind, Slot: slot, ID: getU128(p[8:]), Timestamp: le.Uint64(p[24:]),
		DebitID: getU128(p[32:]), CreditID: getU128(p[48:]),
		Debit: getBalances(p[96:]), Credit: getBalances(p[136:]),
		DebitPrevAlg: Alg(p[2]), CreditPrevAlg: Alg(p[3])}
	copy(ev.M[:], p[64:96])
	copy(ev.DebitPrev[:], p[176:208])
	copy(ev.CreditPrev[:], p[208:240])
	if flags&eventHasLink != 0 {
		ev.Link = &Link{ID: getU128(p[240:])}
		copy(ev.Link.M[:], p[256:288])
	}
	return nil
}

var le = binary.LittleEndian

func putU128(b []byte, u ledger.Uint128) {
	le.PutUint64(b, u.Lo)
	le.PutUint64(b[8:], u.Hi)
}

func getU128(b []byte) ledger.Uint128 {
	return ledger.Uint128{Lo: le.Uint64(b), Hi: le.Uint64(b[8:])}
}

func putBalances(p []byte, b *Balances) {
	le.PutUint64(p, b.DebitsPending)
	le.PutUint64(p[8:], b.DebitsPosted)
	le.PutUint64(p[16:], b.CreditsPending)
	le.PutUint64(p[24:], b.CreditsPosted)
	le.PutUint16(p[32:], b.Flags)
}

func getBalances(p []byte) Balances {
	return Balances{DebitsPending: le.Uint64(p), DebitsPosted: le.Uint64(p[8:]),
		CreditsPending: le.Uint64(p[16:]), CreditsPosted: le.Uint64(p[24:]), Flags: le.Uint16(p[32:])}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
