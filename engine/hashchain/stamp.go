package hashchain

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// StampSize is the size of an encoded Stamp.
const StampSize = 128

// stampDomain opens every stamp signature, so a stamp signature can never be
// replayed as a checkpoint signature or any other message signed by the key.
const stampDomain = "conto-stamp"

// ErrFormat reports bytes that do not decode: wrong length, unknown format
// version or algorithm, bad counts, non-zero reserved bytes. Decoders wrap it
// with what was wrong.
var ErrFormat = errors.New("malformed encoding")

// ErrSignature reports a stamp or checkpoint whose signature does not verify.
var ErrSignature = errors.New("bad signature")

// Stamp is the leader's seal on a batch: a fresh random nonce signed, with the
// partition and the batch time, by the node's key. Genesis hashes cover the
// whole stamp, and salts derive from its nonce.
type Stamp struct {
	PublicKey [32]byte // the signing node's ed25519 public key
	// Nonce is random and fresh per batch. Every salt of the batch derives
	// from it, so whoever holds it can open every commitment of the batch:
	// show it to auditors, not in an account's private view.
	Nonce     [32]byte
	Signature [64]byte // ed25519, see NewStamp
}

// NewStamp seals a batch of partition at batchTime (ns) with a nonce read
// from rnd (crypto/rand.Reader in production). The signature is ed25519 over
// 55 bytes:
//
//	[0:11]  "conto-stamp"
//	[11:15] partition  u32
//	[15:23] batch time u64
//	[23:55] nonce
func NewStamp(key ed25519.PrivateKey, partition uint32, batchTime uint64, rnd io.Reader) (Stamp, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Stamp{}, fmt.Errorf("stamp: private key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	var s Stamp
	if _, err := io.ReadFull(rnd, s.Nonce[:]); err != nil {
		return Stamp{}, fmt.Errorf("stamp: reading nonce: %w", err)
	}
	copy(s.PublicKey[:], key[32:])
	msg := stampMessage(partition, batchTime, &s.Nonce)
	copy(s.Signature[:], ed25519.Sign(key, msg[:]))
	return s, nil
}

// stampMessage is what a stamp signs (layout on NewStamp).
func stampMessage(partition uint32, batchTime uint64, nonce *[32]byte) [len(stampDomain) + 4 + 8 + 32]byte {
	var m [len(stampDomain) + 4 + 8 + 32]byte
	n := copy(m[:], stampDomain)
	binary.LittleEndian.PutUint32(m[n:], partition)
	binary.LittleEndian.PutUint64(m[n+4:], batchTime)
	copy(m[n+12:], nonce[:])
	return m
}

// Verify checks that s seals a batch of partition at batchTime. It checks the
// signature against s.PublicKey; whether that key belongs to a trusted node
// is the caller's decision.
func (s *Stamp) Verify(partition uint32, batchTime uint64) error {
	msg := stampMessage(partition, batchTime, &s.Nonce)
	if !ed25519.Verify(s.PublicKey[:], msg[:], s.Signature[:]) {
		return fmt.Errorf("stamp of partition %d at %d: %w", partition, batchTime, ErrSignature)
	}
	return nil
}

// IsZero reports whether s is all zero: a batch sealed by a leader without a
// key.
func (s *Stamp) IsZero() bool { return *s == Stamp{} }

// Encode writes s into the first 128 bytes of dst: public key, nonce,
// signature. dst must hold at least StampSize bytes.
func (s *Stamp) Encode(dst []byte) {
	_ = dst[StampSize-1]
	copy(dst[0:32], s.PublicKey[:])
	copy(dst[32:64], s.Nonce[:])
	copy(dst[64:128], s.Signature[:])
}

// DecodeStamp reads a stamp written by Encode; b must be exactly StampSize
// bytes. It does not verify the signature.
func DecodeStamp(b []byte) (Stamp, error) {
	if len(b) != StampSize {
		return Stamp{}, fmt.Errorf("stamp of %d bytes, want %d: %w", len(b), StampSize, ErrFormat)
	}
	var s Stamp
	copy(s.PublicKey[:], b[0:32])
	copy(s.Nonce[:], b[32:64])
	copy(s.Signature[:], b[64:128])
	return s, nil
}
