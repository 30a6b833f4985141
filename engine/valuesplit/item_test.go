package valuesplit_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type fataler interface{ Fatal(...any) }

func newID(t fataler) vs.ItemID {
	id, err := chain.NewItemID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRoundTripSizes: every size 0..4 KiB (and 1 MiB) with heads 1..30
// cut at the start, in the middle, at the end and at random comes back
// exactly.
func TestRoundTripSizes(t *testing.T) {
	sizes := []int{1 << 20}
	for n := 0; n <= 4096; n += 1 + n/8 {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		plain := randomBytes(t, n)
		id := newID(t)
		ct, key, err := vs.Encrypt(id, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != vs.CiphertextSize(n) {
			t.Fatalf("size %d: ciphertext %d bytes", n, len(ct))
		}
		for head := 1; head <= vs.MaxHeadSize; head++ {
			want, _ := vs.HeadLen(len(ct), head)
			for _, spec := range []vs.SplitSpec{
				{HeadSize: head},
				{HeadSize: head, Offset: (len(ct) - want) / 2},
				{HeadSize: head, Offset: len(ct) - want},
				{HeadSize: head, RandomOffset: true},
			} {
				h, body, w, err := vs.Split(ct, spec)
				if err != nil {
					t.Fatalf("size %d head %d: %v", n, head, err)
				}
				if len(h) != want || int(w.Len) != want || len(body) != len(ct)-want || len(body) < vs.MinBodySize {
					t.Fatalf("size %d head %d: head %d body %d window %+v", n, head, len(h), len(body), w)
				}
				joined, err := vs.Join(h, body, w)
				if err != nil || !bytes.Equal(joined, ct) {
					t.Fatalf("size %d head %d %+v: join differs (%v)", n, head, spec, err)
				}
				got, err := vs.Decrypt(id, joined, key)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("size %d head %d: decrypt: %v", n, head, err)
				}
			}
			if n > 4096 && head > 2 {
				break // the 1 MiB item: a few heads are enough
			}
		}
	}
}

func TestSplitItemDefaults(t *testing.T) {
	plain := []byte("the seed's ABCDEFG2345678 example, long enough for a full head")
	id := newID(t)
	p, err := vs.SplitItem(id, plain, vs.SplitSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Head) != vs.DefaultHeadSize || p.Window.Offset != 0 {
		t.Fatalf("default split: head %d at %d", len(p.Head), p.Window.Offset)
	}
	got, err := vs.JoinItem(id, p)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("JoinItem: %v", err)
	}
}

func TestSplitRejects(t *testing.T) {
	ct, _, _ := vs.Encrypt(newID(t), make([]byte, 100), nil)
	for _, spec := range []vs.SplitSpec{
		{HeadSize: 31}, {HeadSize: -1}, {Offset: -1}, {Offset: len(ct)}, {HeadSize: 10, Offset: len(ct) - 9},
	} {
		if _, _, _, err := vs.Split(ct, spec); !errors.Is(err, vs.ErrInvalid) {
			t.Errorf("Split(%+v) = %v, want ErrInvalid", spec, err)
		}
	}
	if _, _, _, err := vs.Split(make([]byte, 5), vs.SplitSpec{}); !errors.Is(err, vs.ErrInvalid) {
		t.Errorf("split of a 5-byte ciphertext: %v", err)
	}
	if _, _, err := vs.Encrypt(newID(t), make([]byte, vs.MaxItemSize+1), nil); !errors.Is(err, vs.ErrTooLarge) {
		t.Errorf("oversized item: %v", err)
	}
	for _, w := range []vs.Window{{Offset: 0, Len: 0}, {Offset: 0, Len: 31}, {Offset: 1000, Len: 3}} {
		if _, err := vs.Join(make([]byte, w.Len), make([]byte, 50), w); !errors.Is(err, vs.ErrInvalid) {
			t.Errorf("Join window %+v: %v", w, err)
		}
	}
}

// TestSplitProperty: for any item, head size and window, head and body
// join back to the item; neither alone — nor either with the key, nor the
// two misjoined — decrypts; and no 16-byte run of the item appears in
// either part.
func TestSplitProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		plain := rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(rt, "plain")
		head := rapid.IntRange(1, vs.MaxHeadSize).Draw(rt, "head")
		id := newID(rt)
		ct, key, err := vs.Encrypt(id, plain, nil)
		if err != nil {
			rt.Fatal(err)
		}
		n, _ := vs.HeadLen(len(ct), head)
		off := rapid.IntRange(0, len(ct)-n).Draw(rt, "offset")
		h, body, w, err := vs.Split(ct, vs.SplitSpec{HeadSize: head, Offset: off})
		if err != nil {
			rt.Fatal(err)
		}
		got, err := vs.JoinItem(id, vs.Parts{Head: h, Body: body, Window: w, Key: key})
		if err != nil || !bytes.Equal(got, plain) {
			rt.Fatalf("join: %v", err)
		}
		for name, part := range map[string][]byte{"head": h, "body": body, "body+zeros": append(append([]byte{}, body...), make([]byte, n)...)} {
			if _, err := vs.Decrypt(id, part, key); !errors.Is(err, vs.ErrDecrypt) {
				rt.Fatalf("%s alone decrypted (%v)", name, err)
			}
		}
		// The head put back anywhere else does not decrypt (unless the bytes
		// happen to line up into the same ciphertext).
		shifted := vs.Window{Offset: uint32((int(w.Offset) + 1) % (len(body) + 1)), Len: w.Len}
		if joined, err := vs.Join(h, body, shifted); err == nil && !bytes.Equal(joined, ct) {
			if _, err := vs.Decrypt(id, joined, key); !errors.Is(err, vs.ErrDecrypt) {
				rt.Fatalf("misplaced head decrypted")
			}
		}
		if _, err := vs.JoinItem(newID(rt), vs.Parts{Head: h, Body: body, Window: w, Key: key}); !errors.Is(err, vs.ErrDecrypt) {
			rt.Fatalf("decrypted under another item id")
		}
		for i := 0; i+16 <= len(plain); i += 16 {
			if bytes.Contains(body, plain[i:i+16]) || bytes.Contains(h, plain[i:i+16]) {
				rt.Fatalf("plaintext bytes %d..%d visible in a part", i, i+15)
			}
		}
	})
}

// TestFlipAnyByte: changing any byte of head or body makes the item fail
// to decrypt.
func TestFlipAnyByte(t *testing.T) {
	id := newID(t)
	plain := randomBytes(t, 200)
	p, err := vs.SplitItem(id, plain, vs.SplitSpec{HeadSize: 7, RandomOffset: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{p.Head, p.Body} {
		for i := range part {
			part[i] ^= 1
			if _, err := vs.JoinItem(id, p); !errors.Is(err, vs.ErrDecrypt) {
				t.Fatalf("flipped byte %d still decrypts", i)
			}
			part[i] ^= 1
		}
	}
	p.Key[0] ^= 1
	if _, err := vs.JoinItem(id, p); !errors.Is(err, vs.ErrDecrypt) {
		t.Fatal("flipped key still decrypts")
	}
}

// TestCenterCannotDecryptHead: AES-GCM is a stream mode, so whoever holds
// the data key and some ciphertext bytes can decrypt those bytes. The
// center holds the head and the stored key; the stored key is masked with
// a digest of the whole ciphertext, so the head's bytes stay secret.
func TestCenterCannotDecryptHead(t *testing.T) {
	plain := []byte("SECRET-SECRET-SECRET-SECRET-SECRET")
	id := newID(t)
	p, err := vs.SplitItem(id, plain, vs.SplitSpec{HeadSize: 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctrBytes := func(key []byte) []byte {
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		iv := append(append([]byte{}, p.Head[:12]...), 0, 0, 0, 2) // GCM's first counter block
		out := make([]byte, 18)
		cipher.NewCTR(block, iv).XORKeyStream(out, p.Head[12:30])
		return out
	}
	if bytes.Equal(ctrBytes(p.Key[:]), plain[:18]) {
		t.Fatal("the head decrypts with the stored key alone")
	}
	// Sanity: with the unmasked key (which needs the body) it does.
	ct, _ := vs.Join(p.Head, p.Body, p.Window)
	h := sha256.New()
	h.Write([]byte("conto-valuesplit-item-key-v1"))
	h.Write(id[:])
	binary.Write(h, binary.BigEndian, uint64(len(ct)))
	h.Write(ct)
	real := p.Key
	subtle.XORBytes(real[:], real[:], h.Sum(nil))
	if !bytes.Equal(ctrBytes(real[:]), plain[:18]) {
		t.Fatal("test model of GCM is wrong")
	}
}
