package valuesplit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// Record is what a cluster keeps about an item it holds the body of (Figs.
// 14, 18): the seed's data block — handle (the rotating "hash value"),
// file id, name, owner — plus what the SPEC's listing shows.
type Record struct {
	Item    ItemID    `json:"item"`
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"` // plaintext bytes
	Block   uint64    `json:"block"`
	Created time.Time `json:"created"`
	FileID  FileID    `json:"file_id"`
	Lock    *Lock     `json:"lock,omitempty"`
	// Epoch and Handle come from the store's handle index (handleindex.go),
	// not from the stored record: a re-key rewrites only the index.
	Epoch  Epoch  `json:"-"`
	Handle Handle `json:"-"`
}

// Lock marks an item with a pending transfer out of its owner's hands.
type Lock struct {
	Transfer  OpID      `json:"transfer"`
	ToUser    string    `json:"to_user"`
	ToCluster string    `json:"to_cluster"`
	Expires   time.Time `json:"expires"`
}

// Active reports whether the lock still holds at now.
func (l *Lock) Active(now time.Time) bool { return l != nil && !now.After(l.Expires) }

// Info returns the owner's view of the record.
func (r *Record) Info(now time.Time) ItemInfo {
	return ItemInfo{ID: r.Item, Name: r.Name, Size: r.Size, Block: r.Block, Created: r.Created, Owner: r.Owner, Locked: r.Lock.Active(now)}
}

// Badger keys. Item ids and transfer ids are fixed-size, so prefixes never
// collide.
const (
	kEpoch   = "e" // → uint64 epoch of the store
	kCluster = "c" // → the cluster id the store belongs to
	kRecord  = "r" // + item → Record (JSON)
	kDelta   = "i" // + epoch(8) + item → handle, or empty: deleted (handleindex.go)
	kOwner   = "u" // + owner + 0 + item → nothing (listing index)
	kLock    = "l" // + item → nothing (locked items)
	kTicket  = "t" // + SHA-256(token) → ticket (JSON)
	kOffer   = "o" // + transfer id → Offer without body (JSON)
	bodyDir  = "bodies"
	offerDir = "offers"
)

// BodyStore is a cluster's durable store of item bodies (the body data
// storage 272 and hash information 271 of Figs. 3 and 18). Bodies live in
// files named by item id; records and transfer state live in Badger; the
// handle index is a table file per epoch plus a delta in Badger. A body is
// found by item id (the SPEC's value_id) or by handle in the store's
// epoch; the center accepts only the handle.
//
// A copy of the store tells a thief the item ids and handles it holds,
// and the bodies — ciphertext with a window missing. After the next
// rotation the handles resolve nowhere, and the center hands the mapping
// only to the cluster that has not yet acknowledged it.
//
// Writes are synced (Badger transactions are followed by a sync; files
// are written with fsync and a directory sync).
type BodyStore struct {
	dir     string
	cluster string
	db      *badger.DB
	// mu guards idx and orders writers: reads of a record and its handle
	// take it shared, so they see one epoch; writes and Rekey exclusively.
	mu  sync.RWMutex
	idx *handleIndex
}

// OpenBodyStore opens (creating) the store in dir for cluster. A store
// belongs to one cluster for life: its handles are bound to it.
func OpenBodyStore(dir, cluster string) (*BodyStore, error) {
	if err := CheckID("cluster id", cluster); err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, bodyDir), filepath.Join(dir, offerDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create body store directory: %w", err)
		}
	}
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "meta")))
	if err != nil {
		return nil, fmt.Errorf("open body store database: %w", err)
	}
	s := &BodyStore{dir: dir, cluster: cluster, db: db}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func badgerOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(true).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2)
}

// init binds the store to its cluster and loads its handle index.
func (s *BodyStore) init() error {
	var e Epoch
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(kCluster))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set([]byte(kCluster), []byte(s.cluster))
		}
		if err != nil {
			return fmt.Errorf("read body store owner: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read body store owner: %w", err)
		}
		if string(v) != s.cluster {
			return fmt.Errorf("%w: body store belongs to cluster %q, not %q", ErrInvalid, v, s.cluster)
		}
		e, err = getEpoch(txn)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.loadIndex(e); err != nil {
		return err
	}
	if err := s.cleanOldEpochs(e); err != nil {
		return err
	}
	return s.cleanOrphans()
}

// cleanOrphans removes body files without a record: Put writes the body
// before the record, so a crash between the two leaves one behind. A body
// whose item has a pending offer is kept: acceptOffer moves the offered body
// into place before it writes the record, and a retry after a crash in
// between finds the body there.
func (s *BodyStore) cleanOrphans() error {
	offered, err := s.offeredItems()
	if err != nil {
		return err
	}
	dir := filepath.Join(s.dir, bodyDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list bodies: %w", err)
	}
	for _, e := range ents {
		item, err := ParseItemID(e.Name())
		if err != nil {
			continue // not ours (a temporary file is removed by its writer)
		}
		if _, ok := s.idx.handleOf(item); ok || offered[item] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove orphan body: %w", err)
		}
	}
	return nil
}

func getEpoch(txn *badger.Txn) (Epoch, error) {
	item, err := txn.Get([]byte(kEpoch))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read store epoch: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil || len(v) != 8 {
		return 0, fmt.Errorf("read store epoch: bad value (%v)", err)
	}
	return Epoch(binary.BigEndian.Uint64(v)), nil
}

func epochValue(e Epoch) []byte { return binary.BigEndian.AppendUint64(nil, uint64(e)) }

func (s *BodyStore) tablePath(e Epoch) string {
	return filepath.Join(s.dir, fmt.Sprintf("handles-%d.tbl", e))
}

// loadIndex reads epoch e's table and delta.
func (s *BodyStore) loadIndex(e Epoch) error {
	table, err := readTable(s.tablePath(e), e)
	if err != nil {
		return err
	}
	idx := newIndex(e, table)
	prefix := deltaPrefix(e)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := ItemID(it.Item().Key()[len(prefix):])
			err := it.Item().Value(func(v []byte) error {
				if len(v) != 0 && len(v) != len(Handle{}) {
					return fmt.Errorf("%w: handle delta of item %s is %d bytes", ErrInvalid, item, len(v))
				}
				var h Handle
				copy(h[:], v)
				idx.set(item, h)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load handle delta: %w", err)
	}
	s.idx = idx
	return nil
}

// cleanOldEpochs removes what a crash during a re-key can leave behind:
// tables of other epochs and the previous epoch's delta.
func (s *BodyStore) cleanOldEpochs(e Epoch) error {
	names, err := filepath.Glob(filepath.Join(s.dir, "handles-*.tbl"))
	if err != nil {
		return fmt.Errorf("list handle tables: %w", err)
	}
	for _, n := range names {
		if n != s.tablePath(e) {
			if err := os.Remove(n); err != nil {
				return fmt.Errorf("remove stale handle table: %w", err)
			}
		}
	}
	if e < 2 {
		return nil
	}
	stale := false
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: deltaPrefix(e - 1)})
		defer it.Close()
		it.Rewind()
		stale = it.Valid()
		return nil
	})
	if err != nil || !stale {
		return err
	}
	return s.db.DropPrefix(deltaPrefix(e - 1))
}

// Close closes the store.
func (s *BodyStore) Close() error { return s.db.Close() }

// Cluster returns the cluster the store belongs to.
func (s *BodyStore) Cluster() string { return s.cluster }

// Epoch returns the epoch of the store's handles (0 for a new store).
func (s *BodyStore) Epoch() Epoch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.epoch
}

// Len returns the number of items in the store.
func (s *BodyStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.size()
}

func recordKey(item ItemID) []byte { return append([]byte(kRecord), item[:]...) }
func lockKey(item ItemID) []byte   { return append([]byte(kLock), item[:]...) }
func ownerKey(owner string, item ItemID) []byte {
	k := append([]byte(kOwner), owner...)
	return append(append(k, 0), item[:]...)
}
func deltaPrefix(e Epoch) []byte { return binary.BigEndian.AppendUint64([]byte(kDelta), uint64(e)) }
func deltaKey(e Epoch, item ItemID) []byte {
	return append(deltaPrefix(e), item[:]...)
}

func (s *BodyStore) bodyPath(item ItemID) string {
	return filepath.Join(s.dir, bodyDir, item.String())
}

// update runs a Badger read-write transaction (synced on commit).
func (s *BodyStore) update(fn func(*badger.Txn) error) error { return s.db.Update(fn) }

// Put stores a new item: the body file first (fsynced), then the record
// and its handle in one transaction. The record's epoch must be the
// store's; a new, empty store adopts it.
func (s *BodyStore) Put(rec Record, body []byte) error {
	if err := checkRecord(&rec); err != nil {
		return err
	}
	if len(body) > CiphertextSize(MaxItemSize) {
		return fmt.Errorf("%w: body is %d bytes", ErrTooLarge, len(body))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.adoptEpoch(rec.Epoch); err != nil {
		return err
	}
	if _, ok := s.idx.handleOf(rec.Item); ok {
		return fmt.Errorf("%w: item %s", ErrExists, rec.Item)
	}
	if err := fsutil.WriteFileAtomic(s.bodyPath(rec.Item), body, 0o600); err != nil {
		return fmt.Errorf("store body of item %s: %w", rec.Item, err)
	}
	if err := s.update(func(txn *badger.Txn) error { return s.setRecord(txn, &rec, nil) }); err != nil {
		return fmt.Errorf("store record of item %s: %w", rec.Item, err)
	}
	s.idx.set(rec.Item, rec.Handle)
	return nil
}

func checkRecord(rec *Record) error {
	if rec.Item.IsZero() {
		return fmt.Errorf("%w: record has no item id", ErrInvalid)
	}
	if rec.Handle == (Handle{}) {
		return fmt.Errorf("%w: record has no handle", ErrInvalid)
	}
	if err := CheckID("owner", rec.Owner); err != nil {
		return err
	}
	if err := CheckName(rec.Name); err != nil {
		return err
	}
	if rec.Size < 0 || rec.Size > MaxItemSize {
		return fmt.Errorf("%w: item size %d", ErrInvalid, rec.Size)
	}
	return nil
}

// adoptEpoch checks e against the store's epoch; an empty store takes it.
// The caller holds mu.
func (s *BodyStore) adoptEpoch(e Epoch) error {
	if e == s.idx.epoch {
		return nil
	}
	if e == 0 {
		return fmt.Errorf("%w: record has no epoch", ErrInvalid)
	}
	if s.idx.size() > 0 {
		return &StaleEpochError{Got: s.idx.epoch, Current: e}
	}
	if err := s.update(func(txn *badger.Txn) error { return txn.Set([]byte(kEpoch), epochValue(e)) }); err != nil {
		return fmt.Errorf("set store epoch: %w", err)
	}
	s.idx = newIndex(e, nil)
	return nil
}

// adopt sets the epoch of an empty store (a StaleEpochError if it holds
// items: those need a mapping).
func (s *BodyStore) adopt(e Epoch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adoptEpoch(e)
}

// setRecord writes rec, its indexes and (if new or changed) its handle
// delta, replacing old's. The caller updates s.idx after the commit.
func (s *BodyStore) setRecord(txn *badger.Txn, rec, old *Record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	if old != nil && old.Owner != rec.Owner {
		if err := txn.Delete(ownerKey(old.Owner, old.Item)); err != nil {
			return err
		}
	}
	if err := txn.Set(recordKey(rec.Item), v); err != nil {
		return err
	}
	if err := txn.Set(ownerKey(rec.Owner, rec.Item), nil); err != nil {
		return err
	}
	if old == nil || old.Handle != rec.Handle {
		if err := txn.Set(deltaKey(s.idx.epoch, rec.Item), rec.Handle[:]); err != nil {
			return err
		}
	}
	if rec.Lock != nil {
		return txn.Set(lockKey(rec.Item), nil)
	}
	return txn.Delete(lockKey(rec.Item))
}

// Get returns an item's record with its current handle.
func (s *BodyStore) Get(item ItemID) (Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.getLocked(item)
}

func (s *BodyStore) getLocked(item ItemID) (Record, error) {
	h, ok := s.idx.handleOf(item)
	if !ok {
		return Record{}, fmt.Errorf("%w: item %s", ErrNotFound, item)
	}
	var rec Record
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		rec, err = getRecord(txn, item)
		return err
	})
	rec.Epoch, rec.Handle = s.idx.epoch, h
	return rec, err
}

// getRecord reads a stored record (without its handle).
func getRecord(txn *badger.Txn, item ItemID) (Record, error) {
	var rec Record
	it, err := txn.Get(recordKey(item))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return rec, fmt.Errorf("%w: item %s", ErrNotFound, item)
	}
	if err != nil {
		return rec, fmt.Errorf("read record of item %s: %w", item, err)
	}
	if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
		return rec, fmt.Errorf("decode record of item %s: %w", item, err)
	}
	return rec, nil
}

// ByHandle returns the record a handle of the store's epoch names (Fig.
// 14: the data block found by its hash value).
func (s *BodyStore) ByHandle(h Handle) (Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	item, ok := s.idx.itemOf(h)
	if !ok {
		return Record{}, fmt.Errorf("%w: handle %s in epoch %d", ErrNotFound, h, s.idx.epoch)
	}
	return s.getLocked(item)
}

// Body reads an item's body.
func (s *BodyStore) Body(item ItemID) ([]byte, error) {
	b, err := os.ReadFile(s.bodyPath(item))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: body of item %s", ErrNotFound, item)
	}
	if err != nil {
		return nil, fmt.Errorf("read body of item %s: %w", item, err)
	}
	return b, nil
}

// Update changes an item's record in one transaction. fn may change the
// owner, block, lock and handle (whose epoch must stay the store's); not
// the item id.
func (s *BodyStore) Update(item ItemID, fn func(*Record) error) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.getLocked(item)
	if err != nil {
		return old, err
	}
	rec := old
	if err := fn(&rec); err != nil {
		return old, err
	}
	if rec.Item != item {
		return old, fmt.Errorf("%w: an update cannot change the item id", ErrInvalid)
	}
	if rec.Epoch != s.idx.epoch {
		return old, &StaleEpochError{Got: s.idx.epoch, Current: rec.Epoch}
	}
	if err := checkRecord(&rec); err != nil {
		return old, err
	}
	if err := s.update(func(txn *badger.Txn) error { return s.setRecord(txn, &rec, &old) }); err != nil {
		return old, fmt.Errorf("update record of item %s: %w", item, err)
	}
	s.idx.set(item, rec.Handle)
	return rec, nil
}

// Delete removes an item's record, handle and body.
func (s *BodyStore) Delete(item ItemID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(item)
}

func (s *BodyStore) deleteLocked(item ItemID) error {
	err := s.update(func(txn *badger.Txn) error {
		rec, err := getRecord(txn, item)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil {
			if err := txn.Delete(ownerKey(rec.Owner, item)); err != nil {
				return err
			}
		}
		for _, k := range [][]byte{recordKey(item), lockKey(item)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(deltaKey(s.idx.epoch, item), nil)
	})
	if err != nil {
		return fmt.Errorf("delete item %s: %w", item, err)
	}
	s.idx.set(item, Handle{})
	if err := os.Remove(s.bodyPath(item)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove body of item %s: %w", item, err)
	}
	return nil
}

// MaxList bounds List.
const MaxList = 100_000

// List returns the records of owner's items (at most MaxList).
func (s *BodyStore) List(owner string) ([]Record, error) {
	var items []ItemID
	prefix := append(append([]byte(kOwner), owner...), 0)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(items) < MaxList; it.Next() {
			items = append(items, ItemID(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(items))
	for _, item := range items {
		rec, err := s.Get(item)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// lockedItems returns the items with a lock (active or expired).
func (s *BodyStore) lockedItems() ([]ItemID, error) {
	var out []ItemID
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(kLock)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, ItemID(it.Item().Key()[1:]))
		}
		return nil
	})
	return out, err
}

// RekeyResult reports a Rekey.
type RekeyResult struct {
	From, To       Epoch
	AlreadyApplied bool     // the store was at To already: nothing done
	Rekeyed        int      // items moved to their new handle
	Dropped        []ItemID // items the mapping lacked, deleted with their bodies
}

// Rekey moves every item to its new handle (claims 1, 21: the body's hash
// value updated to the one the center sent). It is atomic and idempotent:
//
//   - a mapping to the store's epoch was applied already: nothing happens;
//   - a mapping from any other epoch than the store's is stale: refused;
//   - otherwise the new epoch's handle table is written beside the old
//     one (records and bodies do not move), items the mapping lacks are
//     deleted — the center no longer places them here, so their bodies are
//     worthless — and then the store's epoch switches in one transaction.
//     Readers see the old handles or the new ones, never a mix. A crash
//     before the switch leaves the store at From; retrying the same
//     mapping finishes the job.
//
// Readers and writers wait while it runs.
func (s *BodyStore) Rekey(m Mapping) (RekeyResult, error) {
	res := RekeyResult{From: m.From, To: m.To}
	if m.Cluster != s.cluster {
		return res, fmt.Errorf("%w: mapping is for cluster %q, the store is %q's", ErrInvalid, m.Cluster, s.cluster)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.To == s.idx.epoch {
		res.AlreadyApplied = true
		return res, nil
	}
	if err := m.Validate(); err != nil {
		return res, err
	}
	if m.From != s.idx.epoch {
		return res, fmt.Errorf("%w: mapping from epoch %d, the store is at epoch %d", ErrStaleEpoch, m.From, s.idx.epoch)
	}
	entries, dropped := s.idx.rekeyed(&m)
	next := newIndex(m.To, entries)
	if err := writeTable(s.tablePath(m.To), m.To, next.table); err != nil {
		return res, err
	}
	for _, item := range dropped {
		if err := s.deleteLocked(item); err != nil {
			return res, err
		}
	}
	if err := s.update(func(txn *badger.Txn) error { return txn.Set([]byte(kEpoch), epochValue(m.To)) }); err != nil {
		return res, fmt.Errorf("switch store to epoch %d: %w", m.To, err)
	}
	s.idx = next
	res.Rekeyed, res.Dropped = len(entries), dropped
	// Leftovers of the old epoch are garbage now; a crash here is cleaned
	// up at the next open.
	return res, s.cleanOldEpochs(m.To)
}
