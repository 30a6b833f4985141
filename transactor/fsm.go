package transactor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/hashicorp/raft"
)

var le = binary.LittleEndian

// Response is what applying one committed batch returns to its proposer
// through the Raft apply future.
type Response struct {
	Version uint64
	Results []ledger.Result
	// Txn is the outcome of an optimistic transaction.
	Txn *store.TxnResult
	// Err is a whole-batch rejection (the batch changed nothing), or a
	// failure of the state machine.
	Err error
}

// fsm adapts a StateMachine to Raft. Raft calls it from one goroutine.
type fsm struct {
	sm StateMachine
	// applied is the version the state machine holds. Entries at or below
	// it were applied before a restart or came in a snapshot, and are
	// skipped when Raft replays them.
	applied uint64
	// onFatal is called once if the state machine breaks (store.ErrFailed):
	// the partition must stop, and a restart replays the log.
	onFatal   func(error)
	fatalOnce sync.Once
	scratch   decodeScratch
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(sm StateMachine, onFatal func(error)) *fsm {
	return &fsm{sm: sm, applied: sm.LastApplied(), onFatal: onFatal}
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed entries in order. The returned slice has one
// element per entry, as Raft requires.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand || l.Index <= f.applied {
			continue
		}
		out[i] = f.applyEntry(l)
	}
	return out
}

func (f *fsm) applyEntry(l *raft.Log) *Response {
	resp := &Response{Version: l.Index}
	if len(l.Data) > 2 && l.Data[2] == kindTxn {
		return f.applyTxn(l, resp)
	}
	b, err := decodeCommand(l.Data, l.Index, &f.scratch)
	if err != nil {
		resp.Err = err
		f.applied = l.Index // a malformed entry is skipped identically everywhere
		return resp
	}
	resp.Results = make([]ledger.Result, len(b.Accounts)+len(b.Transfers))
	resp.Err = f.sm.Apply(b, resp.Results)
	f.settle(l.Index, resp.Err)
	return resp
}

func (f *fsm) applyTxn(l *raft.Log, resp *Response) *Response {
	txn, t, err := decodeTxn(l.Data)
	if err == nil {
		resp.Txn, err = f.sm.ApplyTxn(l.Index, t, txn)
	}
	resp.Err = err
	f.settle(l.Index, err)
	return resp
}

// settle records the outcome of applying entry index.
func (f *fsm) settle(index uint64, err error) {
	switch {
	case err == nil:
		f.applied = index
	case errors.Is(err, store.ErrFailed):
		f.fatalOnce.Do(func() { f.onFatal(err) })
	default:
		// A whole-batch rejection is deterministic: every node rejects it,
		// and the version is consumed without a change.
		f.applied = index
	}
}

// Snapshot is called on the FSM goroutine and must be quick: the work is in
// Persist, which runs alongside further applies.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) { return &fsmSnapshot{sm: f.sm}, nil }

// Restore replaces the state with a snapshot (a follower catching up).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.sm.Restore(rc); err != nil {
		return fmt.Errorf("transactor: restore snapshot: %w", err)
	}
	f.applied = f.sm.LastApplied()
	return nil
}

type fsmSnapshot struct{ sm StateMachine }

// Persist makes the state durable, then streams it. The stream may hold a
// few batches past the snapshot's index; they are skipped when replayed.
// Syncing first matters: once this returns, Raft may drop the log entries
// the state machine would otherwise need after a crash.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.sm.Sync(); err != nil {
		sink.Cancel()
		return fmt.Errorf("transactor: sync before snapshot: %w", err)
	}
	if _, err := s.sm.Snapshot(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("transactor: snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
