package hashchain

import (
	"encoding/binary"

	"github.com/conto-ledger/conto/engine/ledger"
)

// The tag bytes that open every chain hash input, one per kind of hash, so no
// input of one kind can be read as another. They start at 0x10 to stay clear
// of RFC 6962's 0x00 (leaf) and 0x01 (node) prefixes in the Merkle tree.
const (
	TagGenesis      byte = 0x10 // GenesisHash
	TagSalt         byte = 0x11 // Salt
	TagCommitment   byte = 0x12 // Commitment
	TagIntermediate byte = 0x13 // IntermediateHash
	TagHead         byte = 0x14 // NextHead
	TagMigration    byte = 0x15 // MigrationHead
	TagSystem       byte = 0x16 // SystemHash
)

// Sum is the generic form of every chain hash: H_alg(tag || alg || fields...),
// the fields concatenated as given. The named functions below build their
// fields in fixed layouts and give the same result without allocating; Sum is
// for auditors' tools and tests. It returns the zero Hash for an invalid alg.
func Sum(alg Alg, tag byte, fields ...[]byte) Hash {
	h := newHash(alg)
	if h == nil {
		return Hash{}
	}
	h.Write([]byte{tag, byte(alg)})
	for _, f := range fields {
		h.Write(f)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// Sizes of the fixed layouts below. Each function hashes a stack array of
// exactly its size, so hashing on the commit path allocates nothing and
// zeroes no more than it hashes.
const (
	genesisInput      = 2 + 4 + StampSize + ledger.RecordSize
	saltInput         = 2 + 32 + 8 + 4 + 1
	commitmentInput   = 2 + 32 + balancesInput + 32
	balancesInput     = 4*8 + 2
	intermediateInput = 2 + 125 + ledger.RecordSize + 1 + 16 + 32 // the longest: a transfer with a link
	headInput         = 2 + 32 + 32 + balancesInput
	migrationInput    = 3 + 32 + 8
	systemInput       = 2 + 32 + 8 + 8 + 32
)

// enc writes one hash input, field by field in order, little-endian, into
// a caller's stack array.
type enc struct {
	b []byte
	n int
}

func newEnc(buf []byte, tag byte, alg Alg) enc {
	buf[0], buf[1] = tag, byte(alg)
	return enc{b: buf, n: 2}
}

func (e *enc) u8(v byte) {
	e.b[e.n] = v
	e.n++
}

func (e *enc) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.b[e.n:], v)
	e.n += 2
}

func (e *enc) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.b[e.n:], v)
	e.n += 4
}

func (e *enc) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.b[e.n:], v)
	e.n += 8
}

func (e *enc) u128(v ledger.Uint128) {
	e.u64(v.Lo)
	e.u64(v.Hi)
}

func (e *enc) bytes(b []byte) { e.n += copy(e.b[e.n:], b) }

func (e *enc) sum(alg Alg) Hash { return sumOf(alg, e.b[:e.n]) }

func (e *enc) balances(b *Balances) {
	e.u64(b.DebitsPending)
	e.u64(b.DebitsPosted)
	e.u64(b.CreditsPending)
	e.u64(b.CreditsPosted)
	e.u16(b.Flags)
}

// GenesisHash is the first head of an account's chain. It binds the leader's
// stamp on the creating batch (node public key, random nonce, signature) to
// the account's 128-byte creation record, which carries the creation
// timestamp. Layout (262 bytes):
//
//	[0]       TagGenesis (0x10)
//	[1]       alg
//	[2:6]     partition u32
//	[6:38]    stamp public key
//	[38:70]   stamp nonce
//	[70:134]  stamp signature
//	[134:262] account record (ledger.EncodeAccount)
//
// It returns the zero Hash if account is not 128 bytes or alg is invalid.
func GenesisHash(alg Alg, partition uint32, st *Stamp, account []byte) Hash {
	if !alg.Valid() || len(account) != ledger.RecordSize {
		return Hash{}
	}
	var buf [genesisInput]byte
	e := newEnc(buf[:], TagGenesis, alg)
	e.u32(partition)
	e.bytes(st.PublicKey[:])
	e.bytes(st.Nonce[:])
	e.bytes(st.Signature[:])
	e.bytes(account)
	return e.sum(alg)
}

// Salt is the salt of one side's commitment in one event. It is derived from
// the batch's secret nonce, so it looks random to anyone without the nonce
// while an auditor holding the nonce can recompute it. Layout (47 bytes):
//
//	[0]     TagSalt (0x11)
//	[1]     alg
//	[2:34]  batch nonce (Stamp.Nonce)
//	[34:42] version        u64
//	[42:46] slot           u32 (Apply: the transfer's slot; for the expiry
//	                            at event index i, 0xFFFFFFFF - i)
//	[46]    side           u8  (1 debit, 0 credit)
func Salt(alg Alg, nonce [32]byte, version uint64, slot uint32, debit bool) Hash {
	if !alg.Valid() {
		return Hash{}
	}
	var buf [saltInput]byte
	e := newEnc(buf[:], TagSalt, alg)
	e.bytes(nonce[:])
	e.u64(version)
	e.u32(slot)
	e.u8(boolByte(debit))
	return e.sum(alg)
}

// Commitment hides one party's side of an event behind a salt: its head
// before the event and its balances after it. Intermediate hashes cover
// commitments, never raw heads or balances, so a batch's Merkle root (and
// the system hash over it) commits to every balance the batch produced,
// while a party can be shown its counterparty's commitment without learning
// the counterparty's head or balances. Layout (100 bytes):
//
//	[0]      TagCommitment (0x12)
//	[1]      alg
//	[2:34]   head before the event
//	[34:42]  debits pending   u64 (after the event)
//	[42:50]  debits posted    u64
//	[50:58]  credits pending  u64
//	[58:66]  credits posted   u64
//	[66:68]  account flags    u16
//	[68:100] salt
func Commitment(alg Alg, head Hash, b *Balances, salt Hash) Hash {
	if !alg.Valid() {
		return Hash{}
	}
	var buf [commitmentInput]byte
	e := newEnc(buf[:], TagCommitment, alg)
	e.bytes(head[:])
	e.balances(b)
	e.bytes(salt[:])
	return e.sum(alg)
}

// IntermediateHash is the hash m of one event, shared by both parties' chains,
// so each side's history encapsulates the other's at that moment. record is
// the transfer's 128-byte record (with its timestamp) for EventTransfer and
// must be empty for EventExpiry, whose m covers the expired pending transfer's
// id and the expiry's time instead. A correction names what it corrects: with
// ev.Link set, m also covers the corrected transfer's id and m. The
// commitments cover both parties' balances after the event (see
// Commitment), so m does too. Layout (127 bytes, then 128 for a transfer's
// record, then 1 or 49 for the link):
//
//	TagIntermediate (0x13) | alg
//	kind         u8   (EventTransfer 1, EventExpiry 2)
//	slot         u32  (ev.Slot)
//	id           u128 (ev.ID)
//	timestamp    u64  (ev.Timestamp)
//	debit id     u128
//	credit id    u128
//	debit commitment  [32]
//	credit commitment [32]
//	record       [128] (EventTransfer only)
//	has link     u8   (0 or 1)
//	link id      u128, link m [32] (only if has link is 1)
//
// A u128 is written as its low then its high u64. It returns the zero Hash
// for an unknown kind, a record of the wrong size for the kind or an invalid
// alg.
func IntermediateHash(alg Alg, ev *Event, record []byte, debitCommit, creditCommit Hash) Hash {
	if !alg.Valid() || !recordFits(ev.Kind, record) {
		return Hash{}
	}
	var buf [intermediateInput]byte
	e := newEnc(buf[:], TagIntermediate, alg)
	e.u8(ev.Kind)
	e.u32(ev.Slot)
	e.u128(ev.ID)
	e.u64(ev.Timestamp)
	e.u128(ev.DebitID)
	e.u128(ev.CreditID)
	e.bytes(debitCommit[:])
	e.bytes(creditCommit[:])
	e.bytes(record)
	if ev.Link == nil {
		e.u8(0)
	} else {
		e.u8(1)
		e.u128(ev.Link.ID)
		e.bytes(ev.Link.M[:])
	}
	return e.sum(alg)
}

// recordFits reports whether record is what an event of kind carries.
func recordFits(kind uint8, record []byte) bool {
	switch kind {
	case EventTransfer:
		return len(record) == ledger.RecordSize
	case EventExpiry:
		return len(record) == 0
	}
	return false
}

// NextHead is a party's head after an event: over its previous head, the
// event's m and its balances after the event. Layout (100 bytes):
//
//	[0]      TagHead (0x14)
//	[1]      alg
//	[2:34]   previous head
//	[34:66]  m
//	[66:74]  debits pending   u64
//	[74:82]  debits posted    u64
//	[82:90]  credits pending  u64
//	[90:98]  credits posted   u64
//	[98:100] account flags    u16
func NextHead(alg Alg, prev Hash, m Hash, b *Balances) Hash {
	if !alg.Valid() {
		return Hash{}
	}
	var buf [headInput]byte
	e := newEnc(buf[:], TagHead, alg)
	e.bytes(prev[:])
	e.bytes(m[:])
	e.balances(b)
	return e.sum(alg)
}

// MigrationHead moves a chain from algorithm from to algorithm to: the new
// head, hashed with to, covers the old head and both names, so the link
// between the two algorithms is itself part of the chain. Layout (43 bytes):
//
//	[0]     TagMigration (0x15)
//	[1]     to
//	[2]     from
//	[3:35]  previous head (a from hash)
//	[35:43] version u64 (the batch that migrated the chain)
func MigrationHead(to Alg, from Alg, prev Hash, version uint64) Hash {
	if !to.Valid() || !from.Valid() {
		return Hash{}
	}
	var buf [migrationInput]byte
	e := newEnc(buf[:], TagMigration, to)
	e.u8(byte(from))
	e.bytes(prev[:])
	e.u64(version)
	return e.sum(to)
}

// SystemHash chains a partition's batches: S_v over S_{v-1}, v, the batch
// time and the Merkle root of batch v's leaves (Block.Leaves). Layout (82
// bytes):
//
//	[0]     TagSystem (0x16)
//	[1]     alg
//	[2:34]  previous system hash (zero for the first batch)
//	[34:42] version u64
//	[42:50] batch time u64 (ns)
//	[50:82] Merkle root
func SystemHash(alg Alg, prev Hash, version, time uint64, root Hash) Hash {
	if !alg.Valid() {
		return Hash{}
	}
	var buf [systemInput]byte
	e := newEnc(buf[:], TagSystem, alg)
	e.bytes(prev[:])
	e.u64(version)
	e.u64(time)
	e.bytes(root[:])
	return e.sum(alg)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
