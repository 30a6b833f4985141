package ledger

import "sort"

// transferTable holds every transfer in creation order and finds them by id.
//
// A hash map over all transfers costs a cache and TLB miss per lookup and per
// insert once it outgrows the caches (the profile of an 8189-transfer batch
// over a million transfers spent half its time there). Payment front-ends
// mostly use increasing ids (sequence numbers, ULIDs), so the table keeps
// those in an append-only sorted run: an id above the highest seen so far is
// new without touching memory, and inserting it is an append. Ids that
// arrive out of order go to a map. Lookups of older ids binary-search the
// run, which only duplicates and posts/voids pay for.
type transferTable struct {
	chunks [][]Transfer // creation order, transferChunk per chunk
	n      uint32

	// orderedIDs[i] is the id of transfer orderedPos[i]; strictly increasing.
	orderedIDs []Uint128
	orderedPos []uint32
	other      map[Uint128]uint32 // ids that were not above the run's last
}

const (
	transferChunkBits = 16
	transferChunk     = 1 << transferChunkBits
)

// tableMark is a table length to roll back to.
type tableMark struct {
	n, ordered uint32
}

func newTransferTable(hint int) transferTable {
	return transferTable{
		orderedIDs: make([]Uint128, 0, hint),
		orderedPos: make([]uint32, 0, hint),
		other:      make(map[Uint128]uint32),
	}
}

func (t *transferTable) len() int { return int(t.n) }

func (t *transferTable) at(pos uint32) *Transfer {
	return &t.chunks[pos>>transferChunkBits][pos&(transferChunk-1)]
}

// aboveAll reports whether id is greater than every id in the run, which
// (with other empty or not holding it) proves it is new.
func (t *transferTable) aboveAll(id Uint128) bool {
	return len(t.orderedIDs) == 0 || t.orderedIDs[len(t.orderedIDs)-1].Less(id)
}

func (t *transferTable) get(id Uint128) (*Transfer, bool) {
	if t.aboveAll(id) && len(t.other) == 0 {
		return nil, false
	}
	if pos, ok := t.other[id]; ok {
		return t.at(pos), true
	}
	ids := t.orderedIDs
	i := sort.Search(len(ids), func(i int) bool { return !ids[i].Less(id) })
	if i < len(ids) && ids[i] == id {
		return t.at(t.orderedPos[i]), true
	}
	return nil, false
}

// insert appends a transfer whose id is not in the table.
func (t *transferTable) insert(tr *Transfer) {
	if int(t.n>>transferChunkBits) == len(t.chunks) {
		t.chunks = append(t.chunks, make([]Transfer, transferChunk))
	}
	pos := t.n
	*t.at(pos) = *tr
	t.n++
	if t.aboveAll(tr.ID) {
		t.orderedIDs = append(t.orderedIDs, tr.ID)
		t.orderedPos = append(t.orderedPos, pos)
	} else {
		t.other[tr.ID] = pos
	}
}

func (t *transferTable) mark() tableMark {
	return tableMark{n: t.n, ordered: uint32(len(t.orderedIDs))}
}

// truncate removes every transfer inserted after m (rollback of a chain).
func (t *transferTable) truncate(m tableMark) {
	for pos := m.n; pos < t.n; pos++ {
		id := t.at(pos).ID
		if p, ok := t.other[id]; ok && p == pos {
			delete(t.other, id)
		}
		*t.at(pos) = Transfer{}
	}
	t.n = m.n
	t.orderedIDs = t.orderedIDs[:m.ordered]
	t.orderedPos = t.orderedPos[:m.ordered]
}
