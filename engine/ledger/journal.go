package ledger

// Every change Apply makes goes through the helpers in this file, so that
// effects are recorded in one place and, inside a linked chain, the change is
// journaled and can be rolled back. Rollback replays the journal backwards.

type undoKind uint8

const (
	undoAccountUpdate undoKind = iota + 1
	undoAccountCreate
	undoPending
)

type undoEntry struct {
	kind    undoKind
	index   int32
	id      Uint128
	account Account
	pending PendingInfo
	hadPend bool
}

// savepoint is where a linked chain started: lengths to truncate back to.
type savepoint struct {
	undo, transfers, touches, changed, pending int
	table                                      tableMark
}

func (s *State) openSavepoint() savepoint {
	s.recording = true
	s.undo = s.undo[:0]
	e := &s.effects
	return savepoint{undo: 0, transfers: len(e.Transfers), touches: len(e.Touches),
		changed: len(e.Changed), pending: len(e.Pending), table: s.transfers.mark()}
}

func (s *State) closeSavepoint() {
	s.recording = false
	s.undo = s.undo[:0]
}

// rollback undoes everything since sp. Failed ids are kept on purpose: only
// the event that broke the chain can have failed, and it did not apply.
func (s *State) rollback(sp savepoint) {
	for i := len(s.undo) - 1; i >= sp.undo; i-- {
		u := &s.undo[i]
		switch u.kind {
		case undoAccountUpdate:
			s.accounts[u.index] = u.account
		case undoAccountCreate:
			delete(s.accountIndex, u.id)
			s.accounts = s.accounts[:u.index]
			s.touchedAt = s.touchedAt[:u.index]
		case undoPending:
			if u.hadPend {
				s.pending[u.id] = u.pending
			} else {
				delete(s.pending, u.id)
			}
		}
	}
	s.undo = s.undo[:sp.undo]
	s.transfers.truncate(sp.table)
	e := &s.effects
	for _, i := range e.Changed[sp.changed:] {
		if int(i) < len(s.touchedAt) {
			s.touchedAt[i] = 0
		}
	}
	e.Transfers = e.Transfers[:sp.transfers]
	e.Touches = e.Touches[:sp.touches]
	e.Changed = e.Changed[:sp.changed]
	e.Pending = e.Pending[:sp.pending]
	// Expiry heap entries of rolled-back pending transfers go stale and are
	// dropped lazily (isLiveExpiry).
}

// markChanged records that account i's record changes in this batch.
func (s *State) markChanged(i int32) {
	if s.touchedAt[i] != s.batchSeq {
		s.touchedAt[i] = s.batchSeq
		s.effects.Changed = append(s.effects.Changed, i)
	}
}

// mutAccount returns account i for modification, journaling its old value.
func (s *State) mutAccount(i int32) *Account {
	a := &s.accounts[i]
	if s.recording {
		s.undo = append(s.undo, undoEntry{kind: undoAccountUpdate, index: i, account: *a})
	}
	s.markChanged(i)
	a.Version = s.effects.Version
	return a
}

// insertAccount adds a new account.
func (s *State) insertAccount(a *Account) {
	i := int32(len(s.accounts))
	if s.recording {
		s.undo = append(s.undo, undoEntry{kind: undoAccountCreate, index: i, id: a.ID})
	}
	s.accountIndex[a.ID] = i
	s.accounts = append(s.accounts, *a)
	s.touchedAt = append(s.touchedAt, 0)
	s.markChanged(i)
}

// insertTransfer stores a new transfer and returns its slot in the batch.
func (s *State) insertTransfer(t *Transfer) int32 {
	s.transfers.insert(t) // a chain's inserts are undone by truncation
	s.effects.Transfers = append(s.effects.Transfers, *t)
	return int32(len(s.effects.Transfers) - 1)
}

// setPending changes a pending transfer's life cycle.
func (s *State) setPending(id Uint128, p PendingInfo) {
	if s.recording {
		old, had := s.pending[id]
		s.undo = append(s.undo, undoEntry{kind: undoPending, id: id, pending: old, hadPend: had})
	}
	s.pending[id] = p
	s.effects.Pending = append(s.effects.Pending, PendingChange{ID: id, Info: p})
}

// touch records account i's balances after a change at timestamp ts.
func (s *State) touch(i, slot int32, id Uint128, debit bool, ts uint64) {
	s.effects.Touches = append(s.effects.Touches, Touch{Account: i, Slot: slot, TransferID: id,
		Debit: debit, Balance: s.accounts[i].balance(ts), Flags: s.accounts[i].Flags})
}
