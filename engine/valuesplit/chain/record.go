package chain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// RecordSize is the size of every block record on disk. Fixed-size records
// keep tampering local: a changed byte can only damage its own block, never
// the framing of the blocks after it.
const RecordSize = 512

// Field limits. They are part of the on-disk format: the record reserves
// exactly this much room for each field.
const (
	MaxClusterLen = 64  // cluster id, bytes
	MaxUserLen    = 64  // user id, bytes
	MaxNameLen    = 128 // item (file) name, bytes of UTF-8
	MaxPayloadLen = 96  // sealed payload, bytes
)

// NoBlock is the Parent of a block that links to nothing: the genesis block,
// or the first block of a branch registered while every block was frozen.
const NoBlock = ^uint64(0)

// Record layout (big-endian integers). The block hash covers every byte of
// the record except the hash field itself, so no byte of a block can change
// unnoticed, padding included.
const (
	offMagic    = 0   // "CVB1"
	offVersion  = 4   // 1
	offKind     = 5   // Kind
	offReserved = 6   // 2 zero bytes
	offIndex    = 8   // uint64
	offParent   = 16  // uint64 (NoBlock for none)
	offTime     = 24  // int64 Unix nanoseconds
	offPrev     = 32  // Hash of the parent block (zero for none)
	offHash     = 64  // this block's Hash (not covered by itself)
	offNonce    = 96  // 16 random bytes
	offItem     = 112 // ItemID
	offOp       = 128 // OpID
	offFileID   = 144 // FileID
	offCluster  = 148 // 1 length byte + MaxClusterLen bytes
	offUser     = offCluster + 1 + MaxClusterLen
	offName     = offUser + 1 + MaxUserLen
	offPayload  = offName + 1 + MaxNameLen
	offTail     = offPayload + 1 + MaxPayloadLen // zero padding to RecordSize
	version     = 1
)

var magic = [4]byte{'C', 'V', 'B', '1'}

// hashDomain separates block hashes from every other HMAC the module
// computes with keys derived from the same master key.
const hashDomain = "conto-valuesplit-block-v1"

// A layout edit that overflows RecordSize must not compile.
var _ [RecordSize - offTail]byte

// field is one length-prefixed variable field of a record.
type field struct {
	off, limit int
	dst        *[]byte
	what       string
}

// Kind is what a block records.
type Kind uint8

// Block kinds. The values are part of the on-disk format.
const (
	KindGenesis  Kind = 1 // the chain's first block; carries no item
	KindRegister Kind = 2 // an item's registration: its sealed head and first owner
	KindTransfer Kind = 3 // an ownership change of an item registered earlier
	KindVoid     Kind = 4 // written by Repair where neither the account book nor the old block could restore a block
)

func (k Kind) valid() bool { return k >= KindGenesis && k <= KindVoid }

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindGenesis:
		return "genesis"
	case KindRegister:
		return "register"
	case KindTransfer:
		return "transfer"
	case KindVoid:
		return "void"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Hash is a block hash: HMAC-SHA256 under the chain's hash key. It is keyed
// so that someone who can write the chain file but does not hold the key
// cannot rewrite a block and recompute its hash (and every later one).
type Hash [32]byte

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash (the Prev of a block that links
// to nothing).
func (h Hash) IsZero() bool { return h == Hash{} }

// FileID is the seed's 4-byte file id (Figs. 13 and 14): it identifies an
// item's blocks at the center and its body at the cluster.
type FileID [4]byte

// String returns the id in hex.
func (f FileID) String() string { return hex.EncodeToString(f[:]) }

// Draft is the content of a block that its writer chooses; Append adds the
// position, links, nonce and hash.
type Draft struct {
	Kind    Kind
	Item    ItemID
	Op      OpID // idempotency key of the operation that wrote the block
	FileID  FileID
	Time    time.Time // transaction time; stored to the nanosecond
	Cluster string    // owning cluster after this block
	User    string    // owning user after this block
	Name    string    // item (file) name
	Payload []byte    // sealed head + data key + window; opaque to the chain
}

// Block is one block of the chain: a Draft, its position and links, and the
// two mutable flags. Valid and Frozen are state, not content: they are kept
// out of the record so that setting them never looks like tampering.
type Block struct {
	Draft
	Index  uint64
	Parent uint64 // index of the block Prev is the hash of; NoBlock for none
	Prev   Hash
	Hash   Hash
	Nonce  [16]byte

	// Valid is set on exactly one block: the one the next block will link
	// to (the seed's "connectable" flag, claim 2). It moves to each newly
	// connected block and, while blocks are frozen, sits on the last
	// unfrozen block.
	Valid bool
	// Frozen is set on a block the monitor found tampered and on every
	// block after it, until Repair rebuilds them.
	Frozen bool
}

var (
	errShortRecord = errors.New("record is not RecordSize bytes")
	errBadMagic    = errors.New("bad magic")
)

// validateDraft checks the limits the record format imposes.
func validateDraft(d *Draft) error {
	if !d.Kind.valid() {
		return fmt.Errorf("%w: block kind %d", ErrInvalid, d.Kind)
	}
	if err := checkText("cluster id", d.Cluster, MaxClusterLen, false); err != nil {
		return err
	}
	if err := checkText("user id", d.User, MaxUserLen, false); err != nil {
		return err
	}
	if err := checkText("name", d.Name, MaxNameLen, true); err != nil {
		return err
	}
	if len(d.Payload) > MaxPayloadLen {
		return fmt.Errorf("%w: sealed payload is %d bytes, limit %d", ErrInvalid, len(d.Payload), MaxPayloadLen)
	}
	if d.Time.IsZero() {
		return fmt.Errorf("%w: block has no time", ErrInvalid)
	}
	return nil
}

func checkText(what, s string, limit int, utf bool) error {
	if len(s) > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalid, what, len(s), limit)
	}
	if utf && !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, what)
	}
	return nil
}

// encode writes b's record into rec (RecordSize bytes) and sets b.Hash.
func encode(rec []byte, b *Block, key *[32]byte) {
	clear(rec[:RecordSize])
	copy(rec[offMagic:], magic[:])
	rec[offVersion] = version
	rec[offKind] = byte(b.Kind)
	binary.BigEndian.PutUint64(rec[offIndex:], b.Index)
	binary.BigEndian.PutUint64(rec[offParent:], b.Parent)
	binary.BigEndian.PutUint64(rec[offTime:], uint64(b.Time.UnixNano()))
	copy(rec[offPrev:], b.Prev[:])
	copy(rec[offNonce:], b.Nonce[:])
	copy(rec[offItem:], b.Item[:])
	copy(rec[offOp:], b.Op[:])
	copy(rec[offFileID:], b.FileID[:])
	putField(rec[offCluster:], []byte(b.Cluster))
	putField(rec[offUser:], []byte(b.User))
	putField(rec[offName:], []byte(b.Name))
	putField(rec[offPayload:], b.Payload)
	b.Hash = mac(rec, key)
	copy(rec[offHash:], b.Hash[:])
}

func putField(dst, v []byte) {
	dst[0] = byte(len(v))
	copy(dst[1:], v)
}

// mac computes the block hash of a record: everything but the hash field.
func mac(rec []byte, key *[32]byte) Hash {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(hashDomain))
	m.Write(rec[:offHash])
	m.Write(rec[offHash+32 : RecordSize])
	var h Hash
	m.Sum(h[:0])
	return h
}

// digest is a plain SHA-256 of a whole record, used to pin frozen ranges to
// the exact bytes that were frozen (see flags.go).
func digest(rec []byte) [32]byte { return sha256.Sum256(rec[:RecordSize]) }

// decode parses a record strictly. It does not check the hash; verify does.
func decode(rec []byte) (Block, error) {
	var b Block
	if len(rec) != RecordSize {
		return b, errShortRecord
	}
	if [4]byte(rec[offMagic:offMagic+4]) != magic {
		return b, errBadMagic
	}
	if rec[offVersion] != version {
		return b, fmt.Errorf("record version %d, want %d", rec[offVersion], version)
	}
	b.Kind = Kind(rec[offKind])
	if !b.Kind.valid() {
		return b, fmt.Errorf("unknown block kind %d", rec[offKind])
	}
	if rec[offReserved] != 0 || rec[offReserved+1] != 0 {
		return b, errors.New("reserved bytes are not zero")
	}
	b.Index = binary.BigEndian.Uint64(rec[offIndex:])
	b.Parent = binary.BigEndian.Uint64(rec[offParent:])
	b.Time = time.Unix(0, int64(binary.BigEndian.Uint64(rec[offTime:]))).UTC()
	b.Prev = Hash(rec[offPrev : offPrev+32])
	b.Hash = Hash(rec[offHash : offHash+32])
	b.Nonce = [16]byte(rec[offNonce : offNonce+16])
	b.Item = ItemID(rec[offItem : offItem+16])
	b.Op = OpID(rec[offOp : offOp+16])
	b.FileID = FileID(rec[offFileID : offFileID+4])
	var cluster, user, name, payload []byte
	for _, f := range []field{
		{offCluster, MaxClusterLen, &cluster, "cluster id"},
		{offUser, MaxUserLen, &user, "user id"},
		{offName, MaxNameLen, &name, "name"},
		{offPayload, MaxPayloadLen, &payload, "payload"},
	} {
		var err error
		if *f.dst, err = getField(rec[f.off:], f.limit, f.what); err != nil {
			return b, err
		}
	}
	for _, c := range rec[offTail:RecordSize] {
		if c != 0 {
			return b, errors.New("tail padding is not zero")
		}
	}
	b.Cluster, b.User, b.Name = string(cluster), string(user), string(name)
	if len(payload) > 0 {
		b.Payload = payload
	}
	return b, nil
}

// getField reads a length-prefixed field and checks its unused room is zero
// (a record has exactly one encoding).
func getField(src []byte, limit int, what string) ([]byte, error) {
	n := int(src[0])
	if n > limit {
		return nil, fmt.Errorf("%s length %d exceeds %d", what, n, limit)
	}
	for _, c := range src[1+n : 1+limit] {
		if c != 0 {
			return nil, fmt.Errorf("%s padding is not zero", what)
		}
	}
	return append([]byte(nil), src[1:1+n]...), nil
}

// MarshalText encodes the hash as hex, for JSON.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error { return parseHex(string(b), h[:], "hash") }

// MarshalText encodes the file id as hex, for JSON.
func (f FileID) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses 8 hex digits.
func (f *FileID) UnmarshalText(b []byte) error { return parseHex(string(b), f[:], "file id") }
