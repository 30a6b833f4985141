package valuesplit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
)

// Item limits.
const (
	MaxItemSize     = 64 << 20 // bytes of plaintext
	MaxHeadSize     = 30       // bytes of ciphertext in a head (claim 6)
	DefaultHeadSize = MaxHeadSize
	// MinBodySize is the least ciphertext a body keeps. Sixteen bytes of
	// ciphertext the center never sees mean the center, which holds the
	// head and the (masked) data key, cannot guess the body of a tiny item.
	MinBodySize = 16
	// Overhead is what encryption adds: a 12-byte nonce and a 16-byte tag.
	Overhead = nonceSize + tagSize

	nonceSize = 12
	tagSize   = 16
	keyDomain = "conto-valuesplit-item-key-v1"
)

// DataKey is an item's data key as stored: the random AES-256 key the item
// was encrypted with, XOR a SHA-256 digest of the whole ciphertext (an
// all-or-nothing package). Without every byte of the ciphertext — head and
// body — the stored key is useless, so neither the center (head + key) nor
// the cluster (body) can decrypt any part of an item alone: AES-GCM is a
// stream mode, and a plain key would let the center decrypt the bytes of
// its head.
type DataKey [32]byte

// Window says where the head was cut from the ciphertext (claims 11, 20,
// 22, 24): Len bytes starting at Offset. Offset 0 is the seed's basic
// split, the first N bytes.
type Window struct {
	Offset uint32 `json:"offset"`
	Len    uint8  `json:"len"`
}

// SplitSpec chooses the head.
type SplitSpec struct {
	// HeadSize is the head's length, 1..MaxHeadSize (0 means
	// DefaultHeadSize). For a tiny item the head shrinks so the body keeps
	// MinBodySize bytes.
	HeadSize int
	// Offset is where the head starts in the ciphertext. It must leave room
	// for the head.
	Offset int
	// RandomOffset picks the offset uniformly at random (Offset is
	// ignored), so not even the position of the missing bytes is known to
	// whoever holds the body.
	RandomOffset bool
}

// Parts is an item encrypted and split: what the center keeps (Head, Key,
// Window — sealed into its block) and what the cluster keeps (Body).
type Parts struct {
	Head   []byte
	Body   []byte
	Window Window
	Key    DataKey
}

// CiphertextSize returns the ciphertext length of an n-byte item.
func CiphertextSize(n int) int { return n + Overhead }

// Encrypt encrypts plain under a fresh random key with AES-256-GCM (random
// nonce, associated data = id) and returns nonce‖ciphertext‖tag with the
// stored (masked) key. rnd is the randomness source (crypto/rand if nil).
func Encrypt(id ItemID, plain []byte, rnd io.Reader) ([]byte, DataKey, error) {
	if len(plain) > MaxItemSize {
		return nil, DataKey{}, fmt.Errorf("%w: item is %d bytes, limit %d", ErrTooLarge, len(plain), MaxItemSize)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var key DataKey
	if _, err := io.ReadFull(rnd, key[:]); err != nil {
		return nil, DataKey{}, fmt.Errorf("item data key: %w", err)
	}
	aead, err := gcm(key[:])
	if err != nil {
		return nil, DataKey{}, err
	}
	ct := make([]byte, nonceSize, CiphertextSize(len(plain)))
	if _, err := io.ReadFull(rnd, ct); err != nil {
		return nil, DataKey{}, fmt.Errorf("item nonce: %w", err)
	}
	ct = aead.Seal(ct, ct[:nonceSize], plain, id[:])
	mask := keyMask(id, ct)
	subtle.XORBytes(key[:], key[:], mask[:])
	return ct, key, nil
}

// Decrypt reverses Encrypt. It fails — without revealing anything — for a
// ciphertext that is incomplete, reordered or altered in any byte, for the
// wrong key and for the wrong item id.
func Decrypt(id ItemID, ct []byte, key DataKey) ([]byte, error) {
	if len(ct) < Overhead || len(ct) > CiphertextSize(MaxItemSize) {
		return nil, fmt.Errorf("%w: ciphertext length %d outside %d..%d", ErrDecrypt, len(ct), Overhead, CiphertextSize(MaxItemSize))
	}
	mask := keyMask(id, ct)
	subtle.XORBytes(key[:], key[:], mask[:])
	aead, err := gcm(key[:])
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, ct[:nonceSize], ct[nonceSize:], id[:])
	if err != nil {
		return nil, fmt.Errorf("%w: item %s", ErrDecrypt, id)
	}
	return plain, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("aes-gcm: %w", err)
	}
	return aead, nil
}

// keyMask = SHA-256(domain ‖ id ‖ len(ct) ‖ ct).
func keyMask(id ItemID, ct []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(keyDomain))
	h.Write(id[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(ct)))
	h.Write(n[:])
	h.Write(ct)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// HeadLen returns the head length Split uses for a ciphertext of ctLen
// bytes when asked for want bytes (0: default).
func HeadLen(ctLen, want int) (int, error) {
	if want == 0 {
		want = DefaultHeadSize
	}
	if want < 1 || want > MaxHeadSize {
		return 0, fmt.Errorf("%w: head size %d outside 1..%d", ErrInvalid, want, MaxHeadSize)
	}
	if ctLen < Overhead {
		return 0, fmt.Errorf("%w: ciphertext is %d bytes, shorter than the %d-byte overhead", ErrInvalid, ctLen, Overhead)
	}
	return min(want, ctLen-MinBodySize), nil
}

// Split cuts the head out of a ciphertext. The body is the ciphertext
// without the window: for Offset 0, the seed's "data from size+1 on".
func Split(ct []byte, spec SplitSpec) (head, body []byte, w Window, err error) {
	if len(ct) > CiphertextSize(MaxItemSize) {
		return nil, nil, w, fmt.Errorf("%w: ciphertext is %d bytes", ErrTooLarge, len(ct))
	}
	n, err := HeadLen(len(ct), spec.HeadSize)
	if err != nil {
		return nil, nil, w, err
	}
	off := spec.Offset
	if spec.RandomOffset {
		r, err := rand.Int(rand.Reader, big.NewInt(int64(len(ct)-n+1)))
		if err != nil {
			return nil, nil, w, fmt.Errorf("random window offset: %w", err)
		}
		off = int(r.Int64())
	}
	if off < 0 || off > len(ct)-n {
		return nil, nil, w, fmt.Errorf("%w: window offset %d outside 0..%d", ErrInvalid, off, len(ct)-n)
	}
	head = append([]byte(nil), ct[off:off+n]...)
	body = make([]byte, 0, len(ct)-n)
	body = append(append(body, ct[:off]...), ct[off+n:]...)
	return head, body, Window{Offset: uint32(off), Len: uint8(n)}, nil
}

// Join puts the head back into the body at its window and returns the
// ciphertext. It checks only shapes; Decrypt checks content.
func Join(head, body []byte, w Window) ([]byte, error) {
	if len(head) != int(w.Len) || w.Len < 1 || w.Len > MaxHeadSize {
		return nil, fmt.Errorf("%w: head is %d bytes, window says %d (1..%d)", ErrInvalid, len(head), w.Len, MaxHeadSize)
	}
	if int64(w.Offset) > int64(len(body)) {
		return nil, fmt.Errorf("%w: window offset %d past the %d-byte body", ErrInvalid, w.Offset, len(body))
	}
	total := len(head) + len(body)
	if total > CiphertextSize(MaxItemSize) {
		return nil, fmt.Errorf("%w: joined ciphertext would be %d bytes", ErrTooLarge, total)
	}
	ct := make([]byte, 0, total)
	ct = append(ct, body[:w.Offset]...)
	ct = append(ct, head...)
	return append(ct, body[w.Offset:]...), nil
}

// SplitItem encrypts plain and splits the ciphertext: Encrypt then Split.
func SplitItem(id ItemID, plain []byte, spec SplitSpec, rnd io.Reader) (Parts, error) {
	ct, key, err := Encrypt(id, plain, rnd)
	if err != nil {
		return Parts{}, err
	}
	head, body, w, err := Split(ct, spec)
	if err != nil {
		return Parts{}, err
	}
	return Parts{Head: head, Body: body, Window: w, Key: key}, nil
}

// JoinItem joins the parts and decrypts them: Join then Decrypt.
func JoinItem(id ItemID, p Parts) ([]byte, error) {
	ct, err := Join(p.Head, p.Body, p.Window)
	if err != nil {
		return nil, err
	}
	return Decrypt(id, ct, p.Key)
}
