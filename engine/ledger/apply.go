package ledger

import (
	"container/heap"
	"errors"
	"fmt"
)

// BatchKind says what a batch carries.
type BatchKind uint8

// Batch kinds. An expiry batch carries no events: it only advances engine
// time so that pending transfers expire without client traffic.
const (
	KindAccounts BatchKind = iota + 1
	KindTransfers
	KindExpire
)

// MaxExpiriesPerBatch bounds the pending transfers one batch expires, so a
// batch's cost stays bounded however many timeouts fall due at once. Those
// left over expire in following batches; until then posting or voiding them
// already answers pending_transfer_expired.
const MaxExpiriesPerBatch = MaxBatchEvents

// Batch is one committed unit: one Raft log entry, one version.
type Batch struct {
	Kind BatchKind
	// Version must be greater than the State's version. It is the Raft log
	// index, so it may skip numbers.
	Version uint64
	// Time is the leader's clock when it proposed the batch, in ns. Engine
	// time never goes backwards: if Time is not after the last timestamp,
	// the batch starts right after it instead.
	Time      uint64
	Accounts  []Account
	Transfers []Transfer
	// Atomic applies a transfers batch all or nothing (an optimistic
	// transaction, SPEC §4): the events form one chain whatever their own
	// linked flags, and a failure leaves no trace, not even an id that
	// failed transiently, since an aborted transaction changes nothing.
	Atomic bool
	// Seal and Corrections travel with the batch for the hash chains
	// (engine/hashchain, computed by the store); the rules ignore them.
	Seal        Seal
	Corrections []Correction
}

// Seal is what the leader stamps on a batch for the hash chains: the hash
// algorithm (0: chains off) and a signed random stamp (hashchain.Stamp's
// 128-byte encoding, zero when the leader has no key).
type Seal struct {
	Alg   uint8
	Stamp [128]byte
}

// Correction says that the transfer at Index in the batch corrects the
// transfer Corrects (seed 004, claim 41): records are never rewritten, the
// correcting transfer's chain entry names the hash of the corrected one.
type Correction struct {
	Index    uint32
	Corrects Uint128
}

// Batch errors reject the whole batch before anything is applied.
var (
	ErrVersionNotIncreasing = errors.New("batch version must be greater than the last applied version")
	ErrBatchKind            = errors.New("batch kind does not match its events")
	ErrTimeOutOfRange       = fmt.Errorf("batch time would push timestamps past %d ns", MaxTimestamp)
)

// MaxTimestamp is the largest timestamp the engine assigns: the largest
// int64, so every timestamp is a valid time.Time (until the year 2262).
const MaxTimestamp = 1<<63 - 1

// Touch records one change to an account's balances, in apply order. The
// store turns touches into the account's statement and balance history.
type Touch struct {
	Account int32 // index in creation order (see State.AccountAt)
	// Slot is the index in Effects.Transfers of the transfer that made the
	// change, or -1 when a pending transfer expired.
	Slot int32
	// TransferID is the transfer that made the change, or the pending
	// transfer that expired.
	TransferID Uint128
	Debit      bool // the account was the debit side
	Balance    Balance
	Flags      AccountFlags // the account's flags after the change (closing)
}

// PendingChange is a change to the life cycle of a pending transfer.
type PendingChange struct {
	ID   Uint128
	Info PendingInfo
}

// FailedID is an id that failed with a transient status in this batch.
type FailedID struct {
	ID     Uint128
	Status TransferStatus
}

// Effects is everything one batch changed, in a deterministic order, so that
// storage can persist the batch without diffing state. Its slices are reused
// by the next Apply: copy what must outlive it.
type Effects struct {
	Version        uint64
	FirstTimestamp uint64 // first timestamp the batch assigned (0 if none)
	LastTimestamp  uint64 // State.LastTimestamp after the batch
	Transfers      []Transfer
	Touches        []Touch
	// Changed lists the accounts (indices in creation order) whose record
	// changed, each once, in order of first change.
	Changed []int32
	Pending []PendingChange
	Failed  []FailedID
}

// AccountAt returns the account at index i in creation order.
func (s *State) AccountAt(i int32) *Account { return &s.accounts[i] }

// Apply applies a batch and writes one Result per event into results, which
// must have room for them. It returns the batch's effects, valid until the
// next Apply. An error means the batch was rejected whole and the State is
// unchanged.
func (s *State) Apply(b *Batch, results []Result) (*Effects, error) {
	if err := s.checkBatch(b, len(results)); err != nil {
		return nil, err
	}
	s.beginBatch(b.Version)
	now := max(b.Time, s.lastTimestamp+1)
	cursor := now
	cursor = s.expire(now, cursor)
	switch b.Kind {
	case KindAccounts:
		cursor = applyChains(s, b.Accounts, results, cursor, accountLinked, s.createAccountResult)
	case KindTransfers:
		linked := transferLinked
		if b.Atomic {
			last := &b.Transfers[len(b.Transfers)-1]
			linked = func(t *Transfer) bool { return t != last }
		}
		cursor = applyChains(s, b.Transfers, results, cursor, linked, func(t *Transfer, ts uint64) Result {
			return s.createTransferResult(t, ts, now, !b.Atomic)
		})
	}
	if cursor != now {
		s.effects.FirstTimestamp = now
		s.lastTimestamp = cursor - 1
	}
	s.version = b.Version
	s.effects.LastTimestamp = s.lastTimestamp
	return &s.effects, nil
}

func (s *State) checkBatch(b *Batch, room int) error {
	if b.Version <= s.version {
		return fmt.Errorf("version %d after %d: %w", b.Version, s.version, ErrVersionNotIncreasing)
	}
	n := len(b.Accounts) + len(b.Transfers)
	switch {
	case b.Kind == KindAccounts && len(b.Transfers) == 0 && len(b.Accounts) > 0:
	case b.Kind == KindTransfers && len(b.Accounts) == 0 && len(b.Transfers) > 0:
	case b.Kind == KindExpire && n == 0:
	default:
		return fmt.Errorf("kind %d with %d accounts and %d transfers: %w", b.Kind, len(b.Accounts), len(b.Transfers), ErrBatchKind)
	}
	if n > MaxBatchEvents {
		return fmt.Errorf("%d events: %w", n, ErrBatchTooBig)
	}
	// Each event and each expiry takes one timestamp after the start.
	if start := max(b.Time, s.lastTimestamp+1); start > MaxTimestamp-uint64(n+MaxExpiriesPerBatch) {
		return fmt.Errorf("time %d: %w", b.Time, ErrTimeOutOfRange)
	}
	if room < n {
		return fmt.Errorf("results has room for %d of %d events", room, n)
	}
	return nil
}

func (s *State) beginBatch(version uint64) {
	s.batchSeq++
	e := &s.effects
	*e = Effects{Version: version, Transfers: e.Transfers[:0], Touches: e.Touches[:0],
		Changed: e.Changed[:0], Pending: e.Pending[:0], Failed: e.Failed[:0]}
}

func accountLinked(a *Account) bool   { return a.Flags&AccountLinked != 0 }
func transferLinked(t *Transfer) bool { return t.Flags&TransferLinked != 0 }

// Status 0, 1 and 2 mean the same for accounts and transfers.
const (
	statusCreated           = 0
	statusLinkedEventFailed = 1
	statusChainOpen         = 2
)

// applyChains runs events in order with SPEC's linked-chain rules: a chain
// applies whole or not at all; the first failure reports its own status and
// the rest of the chain linked_event_failed; a chain still open at the end of
// the batch reports linked_event_chain_open on its last event. Any status but
// created breaks a chain, exists included, so a re-submitted chain applies
// nothing. Every event consumes one timestamp, so timestamps stay unique
// whatever fails.
func applyChains[E any](s *State, events []E, results []Result, cursor uint64,
	linked func(*E) bool, apply func(*E, uint64) Result) uint64 {
	chainStart, broken := -1, false
	var sp savepoint
	for i := range events {
		ev := &events[i]
		ts := cursor
		cursor++
		var r Result
		if linked(ev) && chainStart < 0 {
			chainStart = i
			sp = s.openSavepoint()
		}
		switch {
		case linked(ev) && i == len(events)-1:
			r = Result{Status: statusChainOpen}
		case broken:
			r = Result{Status: statusLinkedEventFailed}
		default:
			r = apply(ev, ts)
		}
		if r.Status != statusCreated && chainStart >= 0 && !broken {
			broken = true
			s.rollback(sp)
			for j := chainStart; j < i; j++ {
				results[j] = Result{Status: statusLinkedEventFailed}
			}
		}
		results[i] = r
		if chainStart >= 0 && (!linked(ev) || r.Status == statusChainOpen) {
			chainStart, broken = -1, false
			s.closeSavepoint()
		}
	}
	return cursor
}

// createAccountResult adapts createAccount to applyChains.
func (s *State) createAccountResult(a *Account, ts uint64) Result {
	st, rts := s.createAccount(a, ts)
	return Result{Timestamp: rts, Status: uint32(st)}
}

// createTransferResult adapts createTransfer to applyChains and records ids
// that failed transiently.
func (s *State) createTransferResult(t *Transfer, ts, now uint64, recordFailure bool) Result {
	st, rts := s.createTransfer(t, ts, now)
	if recordFailure && st.transient() {
		s.failed[t.ID] = st
		s.effects.Failed = append(s.effects.Failed, FailedID{ID: t.ID, Status: st})
	}
	return Result{Timestamp: rts, Status: uint32(st)}
}

// expire releases pending transfers whose timeout has passed by engine time
// now, at most MaxExpiriesPerBatch of them, each with its own timestamp.
func (s *State) expire(now, cursor uint64) uint64 {
	for n := 0; n < MaxExpiriesPerBatch && len(s.expiry) > 0; {
		e := s.expiry[0]
		if !s.isLiveExpiry(e) {
			heap.Pop(&s.expiry)
			continue
		}
		if e.expiresAt > now {
			break
		}
		heap.Pop(&s.expiry)
		tp, _ := s.transfers.get(e.id)
		p := *tp
		dr, cr := s.accountIndex[p.DebitAccountID], s.accountIndex[p.CreditAccountID]
		s.releasePending(&p, dr, cr, PendingExpired, cursor, -1)
		cursor++
		n++
	}
	return cursor
}

// releasePending ends a pending transfer's reservation. Voiding or expiring
// a closing transfer re-opens the account it closed.
func (s *State) releasePending(p *Transfer, dr, cr int32, to PendingState, ts uint64, slot int32) {
	d, c := s.mutAccount(dr), s.mutAccount(cr)
	d.DebitsPending -= p.Amount
	c.CreditsPending -= p.Amount
	if to != PendingPosted {
		if p.Flags&TransferClosingDebit != 0 {
			d.Flags &^= AccountClosed
		}
		if p.Flags&TransferClosingCredit != 0 {
			c.Flags &^= AccountClosed
		}
	}
	s.setPending(p.ID, PendingInfo{State: to})
	if to == PendingExpired {
		s.touch(dr, slot, p.ID, true, ts)
		s.touch(cr, slot, p.ID, false, ts)
	}
}
