package valuesplit

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// MasterKey is the center's 32-byte secret. Every key the center uses —
// the block hash key, the payload sealing key, the key sealing its epoch
// keys — is derived from it with HKDF-SHA256 under a distinct label, so one
// secret is enough to back up and none of the derived keys can stand in for
// another. Keep it off the center's data disk: a copy of the data directory
// without it holds only sealed payloads.
type MasterKey [32]byte

// Key derivation labels.
const (
	labelChain   = "conto-valuesplit chain hash v1"
	labelPayload = "conto-valuesplit payload seal v1"
	labelEpochs  = "conto-valuesplit epoch state v1"
)

// NewMasterKey returns a random master key (crypto/rand if rnd is nil).
func NewMasterKey(rnd io.Reader) (MasterKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var k MasterKey
	if _, err := io.ReadFull(rnd, k[:]); err != nil {
		return k, fmt.Errorf("master key: %w", err)
	}
	return k, nil
}

// LoadOrCreateMasterKey reads a master key (64 hex digits) from path,
// creating the file (mode 0600) with a new random key if it does not
// exist. created reports which happened.
func LoadOrCreateMasterKey(path string) (k MasterKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err = parseMasterKey(string(b))
		if err != nil {
			return k, false, fmt.Errorf("master key file %s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return k, false, fmt.Errorf("read master key file: %w", err)
	}
	if k, err = NewMasterKey(nil); err != nil {
		return k, false, err
	}
	if err := fsutil.WriteFileAtomic(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		return k, false, fmt.Errorf("write master key file: %w", err)
	}
	return k, true, nil
}

func parseMasterKey(s string) (MasterKey, error) {
	var k MasterKey
	s = strings.TrimSpace(s)
	if len(s) != 64 {
		return k, fmt.Errorf("%w: want 64 hex digits, got %d characters", ErrInvalid, len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("%w: not hex", ErrInvalid)
	}
	if k == (MasterKey{}) {
		return k, fmt.Errorf("%w: key is all zero", ErrInvalid)
	}
	return k, nil
}

// derive returns the subkey for label.
func (k *MasterKey) derive(label string) ([32]byte, error) {
	var out [32]byte
	b, err := hkdf.Key(sha256.New, k[:], nil, label, len(out))
	if err != nil {
		return out, fmt.Errorf("derive %q key: %w", label, err)
	}
	copy(out[:], b)
	return out, nil
}

// Head is what the center keeps of an item — the seed's "encryption key"
// (claims 1, 3): the head cut from the ciphertext, the item's (masked)
// data key and the window the head came from.
type Head struct {
	Head   []byte  `json:"head"`
	Key    DataKey `json:"key"`
	Window Window  `json:"window"`
}

// Sealed payload layout: nonce(12) ‖ AES-256-GCM(plaintext) where
// plaintext = version(1) ‖ key(32) ‖ offset(4) ‖ len(1) ‖ head(len), at
// most 68 bytes, so a sealed payload fits chain.MaxPayloadLen (96).
const (
	payloadVersion = 1
	payloadDomain  = "conto-valuesplit-payload-v1"
)

// sealHead seals h under aead with the item id, file name and transaction
// time as associated data (claim 3): a payload moved to another block, or a
// block whose name or time was edited, no longer opens.
func sealHead(aead cipher.AEAD, rnd io.Reader, item ItemID, name string, at time.Time, h Head) ([]byte, error) {
	if len(h.Head) != int(h.Window.Len) || len(h.Head) < 1 || len(h.Head) > MaxHeadSize {
		return nil, fmt.Errorf("%w: head is %d bytes, window says %d (1..%d)", ErrInvalid, len(h.Head), h.Window.Len, MaxHeadSize)
	}
	plain := make([]byte, 0, 38+len(h.Head))
	plain = append(plain, payloadVersion)
	plain = append(plain, h.Key[:]...)
	plain = binary.BigEndian.AppendUint32(plain, h.Window.Offset)
	plain = append(plain, h.Window.Len)
	plain = append(plain, h.Head...)
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := io.ReadFull(rnd, out); err != nil {
		return nil, fmt.Errorf("payload nonce: %w", err)
	}
	return aead.Seal(out, out, plain, payloadAAD(item, name, at)), nil
}

// openHead reverses sealHead.
func openHead(aead cipher.AEAD, item ItemID, name string, at time.Time, sealed []byte) (Head, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return Head{}, fmt.Errorf("%w: sealed payload of item %s is %d bytes", ErrTampered, item, len(sealed))
	}
	plain, err := aead.Open(nil, sealed[:ns], sealed[ns:], payloadAAD(item, name, at))
	if err != nil {
		return Head{}, fmt.Errorf("%w: sealed payload of item %s does not open", ErrTampered, item)
	}
	if len(plain) < 38 || plain[0] != payloadVersion {
		return Head{}, fmt.Errorf("%w: payload of item %s has a bad layout", ErrTampered, item)
	}
	h := Head{Key: DataKey(plain[1:33])}
	h.Window = Window{Offset: binary.BigEndian.Uint32(plain[33:37]), Len: plain[37]}
	h.Head = plain[38:]
	if len(h.Head) != int(h.Window.Len) {
		return Head{}, fmt.Errorf("%w: payload of item %s has a bad head length", ErrTampered, item)
	}
	return h, nil
}

func payloadAAD(item ItemID, name string, at time.Time) []byte {
	b := make([]byte, 0, len(payloadDomain)+16+8+1+len(name))
	b = append(b, payloadDomain...)
	b = append(b, item[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = append(b, byte(len(name)))
	return append(b, name...)
}
