package valuesplit

import (
	"errors"
	"fmt"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// Errors. Every error the package returns wraps one of these (or a
// context error), so callers — the HTTP layer in particular — map them to
// answers with errors.Is.
var (
	// ErrInvalid reports input outside the limits or formats (HTTP 400).
	ErrInvalid = chain.ErrInvalid
	// ErrTooLarge reports an item over MaxItemSize (HTTP 413).
	ErrTooLarge = errors.New("item too large")
	// ErrDecrypt reports a ciphertext that does not decrypt: incomplete,
	// altered, or paired with the wrong key or item id.
	ErrDecrypt = errors.New("item does not decrypt")
	// ErrNotFound reports an unknown item, user, cluster, transfer or
	// token — and, deliberately, an item that exists but belongs to someone
	// else, so callers cannot probe for other people's items (HTTP 404).
	ErrNotFound = chain.ErrNotFound
	// ErrExists reports a second registration of an id (HTTP 409).
	ErrExists = errors.New("already exists")
	// ErrDisabled reports a user or cluster whose valid flag is off
	// (Figs. 17A/B): it cannot register, acquire or transfer (HTTP 403).
	ErrDisabled = errors.New("disabled")
	// ErrFrozen reports an item whose block is frozen pending repair
	// (HTTP 423 or 503).
	ErrFrozen = errors.New("item frozen pending repair")
	// ErrLocked reports an item with a pending transfer (HTTP 423).
	ErrLocked = errors.New("item locked by a pending transfer")
	// ErrExpired reports a transfer or download token past its expiry
	// (HTTP 410).
	ErrExpired = errors.New("expired")
	// ErrConflict reports an operation that no longer fits the chain, e.g.
	// a transfer whose sender stopped owning the item (HTTP 409).
	ErrConflict = errors.New("conflict")
	// ErrStaleEpoch reports a handle epoch the center no longer accepts; a
	// cluster syncs its handles and retries. See StaleEpochError.
	ErrStaleEpoch = errors.New("stale handle epoch")
	// ErrUnknownHandle reports a handle that does not resolve in the epoch
	// it was presented for: forged, from another cluster, or stolen from
	// before a rotation.
	ErrUnknownHandle = errors.New("unknown handle")
	// ErrRefused reports a handle mapping the center will not hand out:
	// the cluster already acknowledged a later epoch, so whoever asks for
	// the old mapping holds an old copy of the cluster's store.
	ErrRefused = errors.New("refused")
	// ErrLagging reports a rotation refused because a cluster has not
	// caught up with too many epochs (disable it or let it sync).
	ErrLagging = errors.New("cluster lagging behind the handle epoch")
	// ErrTampered reports a block whose bytes no longer match its hash.
	ErrTampered = chain.ErrTampered
	// ErrClosed reports a call on a closed center, cluster or store.
	ErrClosed = errors.New("closed")
)

// StaleEpochError is the ErrStaleEpoch a center returns, with its current
// epoch.
type StaleEpochError struct {
	Got, Current Epoch
}

func (e *StaleEpochError) Error() string {
	return fmt.Sprintf("%v: request names epoch %d, the center is at epoch %d", ErrStaleEpoch, e.Got, e.Current)
}

// Unwrap makes errors.Is(err, ErrStaleEpoch) hold.
func (e *StaleEpochError) Unwrap() error { return ErrStaleEpoch }
