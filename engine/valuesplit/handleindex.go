package valuesplit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// A body store's handle index maps each item to its handle in the store's
// epoch, and back. It has two parts:
//
//   - the epoch's table, a file written once per re-key: every item and
//     its handle, sorted by item;
//   - the delta, in Badger next to the records: items added, re-handled or
//     deleted since the table was written (written in the same
//     transaction as the record, so the two never disagree).
//
// A re-key then costs one sequential file of 48 bytes per item instead of
// a database write per item (Badger sustains about 250k writes/s on the
// target machines; a million-item table is written in well under a second).
//
// Table file (handles-<epoch>.tbl):
//
//	magic "CVH1" | epoch uint64 | count uint64 | count × (item [16] ‖ handle [32]) | SHA-256 of all before
//
// Delta entry: Badger key "i" ‖ epoch(8) ‖ item → handle (32 bytes), or an
// empty value for a deleted item.
type handleIndex struct {
	epoch    Epoch
	table    []indexEntry // sorted by item
	byHandle []uint32     // positions in table, sorted by handle
	delta    map[ItemID]Handle
	rdelta   map[Handle]ItemID
}

type indexEntry struct {
	item   ItemID
	handle Handle
}

var tableMagic = [4]byte{'C', 'V', 'H', '1'}

const tableEntry = 16 + 32

func newIndex(e Epoch, table []indexEntry) *handleIndex {
	slices.SortFunc(table, func(a, b indexEntry) int { return bytes.Compare(a.item[:], b.item[:]) })
	x := &handleIndex{epoch: e, table: table, delta: map[ItemID]Handle{}, rdelta: map[Handle]ItemID{}}
	x.byHandle = make([]uint32, len(table))
	for i := range x.byHandle {
		x.byHandle[i] = uint32(i)
	}
	slices.SortFunc(x.byHandle, func(a, b uint32) int {
		return bytes.Compare(table[a].handle[:], table[b].handle[:])
	})
	return x
}

// handleOf returns item's handle.
func (x *handleIndex) handleOf(item ItemID) (Handle, bool) {
	if h, ok := x.delta[item]; ok {
		return h, h != Handle{}
	}
	i, ok := slices.BinarySearchFunc(x.table, item, func(e indexEntry, t ItemID) int { return bytes.Compare(e.item[:], t[:]) })
	if !ok {
		return Handle{}, false
	}
	return x.table[i].handle, true
}

// itemOf returns the item h names.
func (x *handleIndex) itemOf(h Handle) (ItemID, bool) {
	if item, ok := x.rdelta[h]; ok {
		if cur, _ := x.handleOf(item); cur == h {
			return item, true
		}
	}
	i, ok := slices.BinarySearchFunc(x.byHandle, h, func(p uint32, t Handle) int {
		return bytes.Compare(x.table[p].handle[:], t[:])
	})
	if !ok {
		return ItemID{}, false
	}
	item := x.table[x.byHandle[i]].item
	if cur, ok := x.handleOf(item); !ok || cur != h {
		return ItemID{}, false // re-handled or deleted since the table
	}
	return item, true
}

// set records item's handle (h zero: deleted) in memory; the caller wrote
// the delta entry.
func (x *handleIndex) set(item ItemID, h Handle) {
	if old, ok := x.delta[item]; ok && old != (Handle{}) {
		delete(x.rdelta, old)
	}
	x.delta[item] = h
	if h != (Handle{}) {
		x.rdelta[h] = item
	}
}

// each calls fn for every live item and handle: the table's in handle
// order, then the delta's.
func (x *handleIndex) each(fn func(ItemID, Handle)) {
	for _, p := range x.byHandle {
		e := x.table[p]
		if _, changed := x.delta[e.item]; !changed {
			fn(e.item, e.handle)
		}
	}
	for item, h := range x.delta {
		if h != (Handle{}) {
			fn(item, h)
		}
	}
}

func (x *handleIndex) size() int {
	n := 0
	x.each(func(ItemID, Handle) { n++ })
	return n
}

// rekeyed returns the entries of the next epoch's table under m and the
// items m lacks. The table's part is a merge of two handle-sorted lists.
func (x *handleIndex) rekeyed(m *Mapping) ([]indexEntry, []ItemID) {
	out := make([]indexEntry, 0, len(x.table)+len(x.delta))
	var dropped []ItemID
	j := 0
	for _, p := range x.byHandle {
		e := x.table[p]
		if _, changed := x.delta[e.item]; changed {
			continue
		}
		for j < len(m.Pairs) && bytes.Compare(m.Pairs[j].Old[:], e.handle[:]) < 0 {
			j++
		}
		if j < len(m.Pairs) && m.Pairs[j].Old == e.handle {
			out = append(out, indexEntry{e.item, m.Pairs[j].New})
		} else {
			dropped = append(dropped, e.item)
		}
	}
	for item, h := range x.delta {
		if h == (Handle{}) {
			continue
		}
		if nh, ok := m.Lookup(h); ok {
			out = append(out, indexEntry{item, nh})
		} else {
			dropped = append(dropped, item)
		}
	}
	return out, dropped
}

// writeTable writes an epoch's table atomically.
func writeTable(path string, e Epoch, entries []indexEntry) error {
	buf := make([]byte, 0, 20+len(entries)*tableEntry+32)
	buf = append(buf, tableMagic[:]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e))
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(entries)))
	for _, en := range entries {
		buf = append(buf, en.item[:]...)
		buf = append(buf, en.handle[:]...)
	}
	sum := sha256.Sum256(buf)
	buf = append(buf, sum[:]...)
	if err := fsutil.WriteFileAtomic(path, buf, 0o600); err != nil {
		return fmt.Errorf("write handle table of epoch %d: %w", e, err)
	}
	return nil
}

// readTable reads an epoch's table; a missing file is an empty table.
func readTable(path string, e Epoch) ([]indexEntry, error) {
	buf, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read handle table: %w", err)
	}
	if len(buf) < 20+32 || [4]byte(buf[:4]) != tableMagic {
		return nil, fmt.Errorf("%w: handle table %s is malformed", ErrInvalid, path)
	}
	body, sum := buf[:len(buf)-32], buf[len(buf)-32:]
	if sha256.Sum256(body) != [32]byte(sum) {
		return nil, fmt.Errorf("%w: handle table %s fails its checksum", ErrInvalid, path)
	}
	if Epoch(binary.BigEndian.Uint64(body[4:12])) != e {
		return nil, fmt.Errorf("%w: handle table %s is for another epoch", ErrInvalid, path)
	}
	n := binary.BigEndian.Uint64(body[12:20])
	if n > MaxMappingPairs || uint64(len(body)-20) != n*tableEntry {
		return nil, fmt.Errorf("%w: handle table %s has a bad length", ErrInvalid, path)
	}
	out := make([]indexEntry, n)
	for i := range out {
		rec := body[20+i*tableEntry:]
		out[i] = indexEntry{item: ItemID(rec[:16]), handle: Handle(rec[16:48])}
	}
	return out, nil
}
