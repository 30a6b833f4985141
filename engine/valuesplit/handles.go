package valuesplit

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
)

// Epoch numbers a handle key. The center starts at epoch 1 and rotates to
// the next epoch on a schedule (claim 7: 24 hours or less).
type Epoch uint64

// Handle is how a cluster knows an item's body — the seed's "block hash
// value" that the center updates at intervals and the cluster stores with
// the body (claims 1, 12, 21). It is 32 bytes:
//
//	AES-256(epoch enc key, item id)                            16 bytes
//	HMAC-SHA256(epoch mac key, len(cluster) ‖ cluster ‖ item id)[:16]
//
// Only the center, holding the epoch key, can make or read handles. The
// first half lets the center resolve a handle to its item without an index;
// the second binds it to one cluster, so a handle copied from one cluster
// does not work from another. A new epoch key changes every handle, so a
// copy of a cluster's store taken before a rotation names nothing
// afterwards.
type Handle [32]byte

// String returns the handle in hex.
func (h Handle) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes the handle as hex, for JSON.
func (h Handle) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses 64 hex digits.
func (h *Handle) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: handle is not 64 hex digits", ErrInvalid)
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("%w: handle is not hex", ErrInvalid)
	}
	return nil
}

// HandlePair is one line of a rotation mapping.
type HandlePair struct {
	Old Handle `json:"old"`
	New Handle `json:"new"`
}

// Mapping re-keys one cluster's handles from epoch From to epoch To. Pairs
// are sorted by Old. A handle the cluster holds that the mapping lacks
// names an item the center no longer places at that cluster (it moved
// away), so its body is worthless there.
type Mapping struct {
	Cluster string       `json:"cluster"`
	From    Epoch        `json:"from"`
	To      Epoch        `json:"to"`
	Pairs   []HandlePair `json:"pairs"`
}

// MaxMappingPairs bounds a mapping (and so the items one cluster holds).
const MaxMappingPairs = 1 << 24

// Lookup returns the new handle for old.
func (m *Mapping) Lookup(old Handle) (Handle, bool) {
	i, ok := slices.BinarySearchFunc(m.Pairs, old, func(p HandlePair, h Handle) int {
		return bytes.Compare(p.Old[:], h[:])
	})
	if !ok {
		return Handle{}, false
	}
	return m.Pairs[i].New, true
}

// Validate checks a mapping's shape: ids, epochs, sort order, size.
func (m *Mapping) Validate() error {
	if err := CheckID("cluster id", m.Cluster); err != nil {
		return err
	}
	if m.To <= m.From {
		return fmt.Errorf("%w: mapping goes from epoch %d to epoch %d", ErrInvalid, m.From, m.To)
	}
	if len(m.Pairs) > MaxMappingPairs {
		return fmt.Errorf("%w: mapping has %d pairs, limit %d", ErrInvalid, len(m.Pairs), MaxMappingPairs)
	}
	for i := 1; i < len(m.Pairs); i++ {
		if bytes.Compare(m.Pairs[i-1].Old[:], m.Pairs[i].Old[:]) >= 0 {
			return fmt.Errorf("%w: mapping pairs are not sorted by old handle (pair %d)", ErrInvalid, i)
		}
	}
	return nil
}

func sortPairs(p []HandlePair) {
	slices.SortFunc(p, func(a, b HandlePair) int { return bytes.Compare(a.Old[:], b.Old[:]) })
}

// epochKey is one epoch's handle keys, derived from its random secret.
type epochKey struct {
	enc cipher.Block
	mac [32]byte
}

func newEpochKey(secret [32]byte) (*epochKey, error) {
	encKey, err := hkdf.Key(sha256.New, secret[:], nil, "conto-valuesplit handle enc v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive handle key: %w", err)
	}
	macKey, err := hkdf.Key(sha256.New, secret[:], nil, "conto-valuesplit handle mac v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive handle key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("handle cipher: %w", err)
	}
	return &epochKey{enc: block, mac: [32]byte(macKey)}, nil
}

// handle returns item's handle for cluster in this epoch.
func (k *epochKey) handle(cluster string, item ItemID) Handle {
	return k.handleWith(k.newMAC(), cluster, item)
}

// newMAC returns an HMAC for the epoch's tag key, for handleWith: making
// one per handle costs more than the handle itself when re-keying millions.
func (k *epochKey) newMAC() hash.Hash { return hmac.New(sha256.New, k.mac[:]) }

// handleWith is handle with a reusable MAC from newMAC (not shared between
// goroutines).
func (k *epochKey) handleWith(m hash.Hash, cluster string, item ItemID) Handle {
	var h Handle
	k.enc.Encrypt(h[:16], item[:])
	tag := k.tag(m, cluster, item)
	copy(h[16:], tag[:16])
	return h
}

// resolve returns the item h names if h is this epoch's handle for it at
// cluster.
func (k *epochKey) resolve(cluster string, h Handle) (ItemID, bool) {
	var item ItemID
	k.enc.Decrypt(item[:], h[:16])
	tag := k.tag(k.newMAC(), cluster, item)
	return item, hmac.Equal(tag[:16], h[16:])
}

func (k *epochKey) tag(m hash.Hash, cluster string, item ItemID) [32]byte {
	m.Reset()
	m.Write([]byte{byte(len(cluster))})
	m.Write([]byte(cluster))
	m.Write(item[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}
