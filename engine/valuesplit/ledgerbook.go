package valuesplit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/store"
)

// KV is the part of the engine's optimistic-transaction API (SPEC §4) the
// ledger book needs: one key created once, and reads. EngineKV serves it in
// process; conto vault center adapts the HTTP client to it.
type KV interface {
	// PutNew stores value under key only if the key does not exist yet;
	// it reports false (and changes nothing) if it does.
	PutNew(ctx context.Context, key string, value []byte) (bool, error)
	// Get returns the key's current value, or ok false if it has none.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
}

// LedgerBook is the account book kept in the engine's ledger, separate from
// the center's block chain (claim 10; DESIGN: the engine as the independent
// account book). Entry n is the key "<prefix>/<n as 16 hex digits>",
// created by a transaction that checks the key does not exist yet, so two
// writers never take the same slot and nothing is ever overwritten: the
// ledger's versions and hash chains keep every entry as it was written.
// Each transaction touches one key, so the book works across partitions.
//
// The ledger's key-value space is readable and writable by every client of
// the node, so each entry is sealed (AES-256-GCM under a key derived from the
// center's master key, the slot's key as additional data): a client can
// neither read an entry (item ids, owners, names) nor forge or move one.
// Entries that do not open are skipped by Entries and counted in Forged: a
// forgery cannot make repair rebuild a block from it, nor stop repair.
type LedgerBook struct {
	kv     KV
	prefix string
	aead   cipher.AEAD
	next   uint64 // the first slot not known to be taken
	found  bool   // next was located in the ledger
	forged int    // entries skipped by the last Entries
}

// maxLedgerBook bounds the entries read back: 2^40 is far more than any
// center writes, and stops a loop on a corrupt ledger.
const maxLedgerBook = 1 << 40

// NewLedgerBook returns the book under prefix (e.g. "vault/book"), its
// entries sealed under a key derived from the center's master key.
func NewLedgerBook(kv KV, prefix string, master MasterKey) (*LedgerBook, error) {
	k, err := master.derive("conto vault ledger book")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &LedgerBook{kv: kv, prefix: prefix, aead: aead}, nil
}

// Forged reports how many entries the last Entries skipped because they
// did not open (written by someone without the master key, or damaged).
func (b *LedgerBook) Forged() int { return b.forged }

func (b *LedgerBook) seal(slot string, plain []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return b.aead.Seal(nonce, nonce, plain, []byte(slot)), nil
}

func (b *LedgerBook) open(slot string, sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed entry too short")
	}
	return b.aead.Open(nil, sealed[:n], sealed[n:], []byte(slot))
}

func (b *LedgerBook) key(n uint64) string { return fmt.Sprintf("%s/%016x", b.prefix, n) }

// Record appends e in the next free slot.
func (b *LedgerBook) Record(ctx context.Context, e BookEntry) error {
	raw, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("encode book entry: %w", err)
	}
	if !b.found {
		if b.next, err = b.end(ctx); err != nil {
			return err
		}
		b.found = true
	}
	for tries := 0; tries < 1000; tries++ {
		sealed, err := b.seal(b.key(b.next), raw)
		if err != nil {
			return fmt.Errorf("seal book entry: %w", err)
		}
		ok, err := b.kv.PutNew(ctx, b.key(b.next), sealed)
		if err != nil {
			return fmt.Errorf("record book entry for block %d in the ledger: %w", e.Index, err)
		}
		b.next++
		if ok {
			return nil
		}
	}
	return fmt.Errorf("record book entry for block %d: every slot tried was taken", e.Index)
}

// end finds the first free slot: slots are filled densely from 0, so an
// exponential then a binary search needs O(log n) reads.
func (b *LedgerBook) end(ctx context.Context) (uint64, error) {
	has := func(n uint64) (bool, error) {
		_, ok, err := b.kv.Get(ctx, b.key(n))
		if err != nil {
			return false, fmt.Errorf("read account book in the ledger: %w", err)
		}
		return ok, nil
	}
	lo, hi := uint64(0), uint64(1) // lo: first slot not known taken; hi: a free slot
	for {
		ok, err := has(hi - 1)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo = hi
		if hi >= maxLedgerBook {
			return 0, errors.New("account book in the ledger is too long")
		}
		hi *= 2
	}
	for lo < hi-1 { // slots < lo taken, slot hi-1 free
		mid := lo + (hi-1-lo)/2
		ok, err := has(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid + 1
		} else {
			hi = mid + 1
		}
	}
	return lo, nil
}

// Entries calls fn for every genuine entry in slot order, skipping (and
// counting, see Forged) entries that do not open.
func (b *LedgerBook) Entries(ctx context.Context, fn func(BookEntry) error) error {
	b.forged = 0
	for n := uint64(0); n < maxLedgerBook; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, ok, err := b.kv.Get(ctx, b.key(n))
		if err != nil {
			return fmt.Errorf("read account book entry %d from the ledger: %w", n, err)
		}
		if !ok {
			return nil
		}
		plain, err := b.open(b.key(n), raw)
		var e BookEntry
		if err == nil {
			err = json.Unmarshal(plain, &e)
		}
		if err != nil {
			b.forged++
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return errors.New("account book in the ledger is too long")
}

// EngineKV is KV over an in-process engine.
type EngineKV struct{ Engine *engine.Engine }

// PutNew commits {check key version 0, put key}.
func (k EngineKV) PutNew(ctx context.Context, key string, value []byte) (bool, error) {
	res, err := k.Engine.Txn(ctx, &store.Txn{KeyChecks: []store.KeyCheck{{Key: key, Version: 0}},
		Puts: []store.Put{{Key: key, Value: value}}})
	if err != nil {
		return false, err
	}
	return res.Status == store.TxnCommitted, nil
}

// Get reads the key's current value (linearizable once the engine's
// partition has caught up: the book is written and read by one center).
func (k EngineKV) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := k.Engine.Get(key, ^uint64(0))
	return v, ok, err
}
