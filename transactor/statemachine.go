package transactor

import (
	"io"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
)

// StateMachine is what a partition's Raft FSM drives. Apply must be
// deterministic: the same batches in the same order give byte-identical
// state on every node. A batch carries its version (the Raft log index) and
// its time (stamped by the leader before proposing).
type StateMachine interface {
	// Apply applies one committed batch; results get one entry per event.
	// An error rejects the batch whole and changes nothing, except
	// store.ErrFailed, after which the state machine must be reopened.
	Apply(b *ledger.Batch, results []ledger.Result) error
	// LastApplied is the version of the last applied batch; a restarted
	// node replays the log after it.
	LastApplied() uint64
	// Snapshot writes the whole versioned state up to LastApplied to w and
	// returns that version; Restore replaces the state with a snapshot.
	Snapshot(w io.Writer) (uint64, error)
	Restore(r io.Reader) error
	// Sync makes every applied batch durable; Raft may drop log entries
	// only after it.
	Sync() error
	// ApplyTxn applies an optimistic transaction as version v at time t.
	ApplyTxn(v, t uint64, txn *store.Txn) (*store.TxnResult, error)
}

var _ StateMachine = (*store.Store)(nil)
