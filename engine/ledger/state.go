package ledger

import (
	"container/heap"
	"fmt"
)

// PendingState is the life cycle of a pending transfer.
type PendingState uint8

// Pending transfer states.
const (
	PendingActive PendingState = iota + 1
	PendingPosted
	PendingVoided
	PendingExpired
)

func (p PendingState) String() string {
	switch p {
	case PendingActive:
		return "pending"
	case PendingPosted:
		return "posted"
	case PendingVoided:
		return "voided"
	case PendingExpired:
		return "expired"
	}
	return fmt.Sprintf("PendingState(%d)", uint8(p))
}

// PendingInfo is what the engine tracks about a pending transfer besides the
// transfer record itself.
type PendingInfo struct {
	State PendingState
	// ExpiresAt is the engine time (ns) at which an active pending transfer
	// expires; 0 means never.
	ExpiresAt uint64
}

// State is the in-memory ledger: every account, every transfer, the life cycle
// of pending transfers and the ids that failed transiently. It is the hot
// state the seed keeps in process; durable storage holds the versioned copy.
//
// A State is not safe for concurrent use: the transactor applies batches
// serially, and readers must synchronise with it.
type State struct {
	accountIndex map[Uint128]int32
	// accounts is in creation order, so iteration is deterministic.
	accounts  []Account
	transfers transferTable
	pending   map[Uint128]PendingInfo
	failed    map[Uint128]TransferStatus
	expiry    expiryHeap

	version       uint64
	lastTimestamp uint64

	// Per-batch scratch, reused across batches to avoid allocation.
	effects   Effects
	undo      []undoEntry
	recording bool     // inside a linked chain: journal changes for rollback
	touchedAt []uint64 // per account: the batch sequence that last marked it changed
	batchSeq  uint64
}

// NewState returns an empty ledger. The hints pre-size its maps.
func NewState(accountHint, transferHint int) *State {
	return &State{
		accountIndex: make(map[Uint128]int32, accountHint),
		accounts:     make([]Account, 0, accountHint),
		transfers:    newTransferTable(transferHint),
		pending:      make(map[Uint128]PendingInfo),
		failed:       make(map[Uint128]TransferStatus),
	}
}

// Version is the version of the last applied batch.
func (s *State) Version() uint64 { return s.version }

// LastTimestamp is the largest timestamp the engine has assigned.
func (s *State) LastTimestamp() uint64 { return s.lastTimestamp }

// Account returns the current state of the account with the given id.
func (s *State) Account(id Uint128) (Account, bool) {
	i, ok := s.accountIndex[id]
	if !ok {
		return Account{}, false
	}
	return s.accounts[i], true
}

// AccountIndex returns the account's index in creation order.
func (s *State) AccountIndex(id Uint128) (int32, bool) {
	i, ok := s.accountIndex[id]
	return i, ok
}

// Accounts calls fn for every account in creation order until fn returns false.
func (s *State) Accounts(fn func(*Account) bool) {
	for i := range s.accounts {
		if !fn(&s.accounts[i]) {
			return
		}
	}
}

// AccountCount is the number of accounts.
func (s *State) AccountCount() int { return len(s.accounts) }

// TransferCount is the number of transfers.
func (s *State) TransferCount() int { return s.transfers.len() }

// Transfer returns the transfer with the given id.
func (s *State) Transfer(id Uint128) (Transfer, bool) {
	if t, ok := s.transfers.get(id); ok {
		return *t, true
	}
	return Transfer{}, false
}

// Pending returns the life-cycle state of a pending transfer.
func (s *State) Pending(id Uint128) (PendingInfo, bool) {
	p, ok := s.pending[id]
	return p, ok
}

// Failed returns the transient status an id failed with, if it did.
func (s *State) Failed(id Uint128) (TransferStatus, bool) {
	st, ok := s.failed[id]
	return st, ok
}

// NextExpiry is the earliest engine time at which an active pending transfer
// expires, or 0 if none will. The transactor uses it to propose an expiry
// batch when no client traffic would otherwise advance engine time.
func (s *State) NextExpiry() uint64 {
	for len(s.expiry) > 0 {
		e := s.expiry[0]
		if s.isLiveExpiry(e) {
			return e.expiresAt
		}
		heap.Pop(&s.expiry) // stale: posted, voided, or rolled back
	}
	return 0
}

// The Restore methods rebuild a State from durable storage. They are for
// loading only; they do not journal, and they trust their input.

// RestoreAccount adds a stored account.
func (s *State) RestoreAccount(a Account) {
	if i, ok := s.accountIndex[a.ID]; ok {
		s.accounts[i] = a
		return
	}
	s.accountIndex[a.ID] = int32(len(s.accounts))
	s.accounts = append(s.accounts, a)
	s.touchedAt = append(s.touchedAt, 0)
}

// RestoreTransfer adds a stored transfer. Transfers must be restored in
// creation order, and each once.
func (s *State) RestoreTransfer(t Transfer) { s.transfers.insert(&t) }

// RestorePending sets the life cycle of a stored pending transfer.
func (s *State) RestorePending(id Uint128, p PendingInfo) {
	s.pending[id] = p
	if p.State == PendingActive && p.ExpiresAt != 0 {
		t, _ := s.transfers.get(id)
		heap.Push(&s.expiry, expiryEntry{expiresAt: p.ExpiresAt, timestamp: t.Timestamp, id: id})
	}
}

// RestoreFailed records an id that failed transiently.
func (s *State) RestoreFailed(id Uint128, st TransferStatus) { s.failed[id] = st }

// RestoreClock sets the version and the last assigned timestamp.
func (s *State) RestoreClock(version, lastTimestamp uint64) {
	s.version, s.lastTimestamp = version, lastTimestamp
}

// expiryEntry orders pending transfers by expiry, then by timestamp, which is
// unique, so the order of expiry is deterministic.
type expiryEntry struct {
	expiresAt uint64
	timestamp uint64
	id        Uint128
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].expiresAt != h[j].expiresAt {
		return h[i].expiresAt < h[j].expiresAt
	}
	return h[i].timestamp < h[j].timestamp
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// isLiveExpiry reports whether a heap entry still describes an active pending
// transfer. Entries go stale when the transfer is posted or voided, or when a
// linked chain that created it rolled back; they are dropped lazily.
func (s *State) isLiveExpiry(e expiryEntry) bool {
	p, ok := s.pending[e.id]
	return ok && p.State == PendingActive && p.ExpiresAt == e.expiresAt
}
