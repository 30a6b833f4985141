package valuesplit

import (
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// EpochsFile holds the center's handle keys, sealed under a key derived
// from the master key. It is replaced atomically on every change.
const EpochsFile = "epochs.state"

const epochsAAD = "conto-valuesplit-epochs-v1"

// epochState is the center's handle-key state as stored (JSON, sealed).
type epochState struct {
	Current   Epoch              `json:"current"`
	RotatedAt time.Time          `json:"rotated_at"`
	Secrets   map[Epoch][32]byte `json:"secrets"` // kept epochs only
	// Acks is the latest epoch each cluster confirmed it re-keyed to. A
	// mapping is handed out only from an epoch at or after it, so a copy of
	// a cluster's store from before its last re-key cannot be converted.
	Acks map[string]Epoch `json:"acks"`
}

// epochs is the loaded state with its derived keys.
type epochs struct {
	path  string
	aead  cipher.AEAD
	rnd   io.Reader
	state epochState
	keys  map[Epoch]*epochKey
}

func openEpochs(dir string, aead cipher.AEAD, rnd io.Reader, now time.Time) (*epochs, error) {
	e := &epochs{path: filepath.Join(dir, EpochsFile), aead: aead, rnd: rnd}
	b, err := os.ReadFile(e.path)
	if errors.Is(err, os.ErrNotExist) {
		return e, e.start(now)
	}
	if err != nil {
		return nil, fmt.Errorf("read epoch state: %w", err)
	}
	if err := e.unseal(b); err != nil {
		return nil, err
	}
	return e, e.derive()
}

// start creates epoch 1.
func (e *epochs) start(now time.Time) error {
	e.state = epochState{Current: 1, RotatedAt: now, Secrets: map[Epoch][32]byte{}, Acks: map[string]Epoch{}}
	var s [32]byte
	if _, err := io.ReadFull(e.rnd, s[:]); err != nil {
		return fmt.Errorf("epoch secret: %w", err)
	}
	e.state.Secrets[1] = s
	if err := e.derive(); err != nil {
		return err
	}
	return e.save()
}

func (e *epochs) unseal(b []byte) error {
	ns := e.aead.NonceSize()
	if len(b) < ns+e.aead.Overhead() {
		return fmt.Errorf("%w: epoch state file is %d bytes", ErrInvalid, len(b))
	}
	plain, err := e.aead.Open(nil, b[:ns], b[ns:], []byte(epochsAAD))
	if err != nil {
		return fmt.Errorf("%w: epoch state does not open (wrong master key or damaged file)", ErrInvalid)
	}
	if err := json.Unmarshal(plain, &e.state); err != nil {
		return fmt.Errorf("decode epoch state: %w", err)
	}
	if e.state.Acks == nil {
		e.state.Acks = map[string]Epoch{}
	}
	if _, ok := e.state.Secrets[e.state.Current]; !ok {
		return fmt.Errorf("%w: epoch state lacks the current epoch's key", ErrInvalid)
	}
	return nil
}

func (e *epochs) derive() error {
	e.keys = make(map[Epoch]*epochKey, len(e.state.Secrets))
	for ep, s := range e.state.Secrets {
		k, err := newEpochKey(s)
		if err != nil {
			return err
		}
		e.keys[ep] = k
	}
	return nil
}

// save seals and atomically replaces the state file.
func (e *epochs) save() error {
	plain, err := json.Marshal(&e.state)
	if err != nil {
		return fmt.Errorf("encode epoch state: %w", err)
	}
	out := make([]byte, e.aead.NonceSize(), e.aead.NonceSize()+len(plain)+e.aead.Overhead())
	if _, err := io.ReadFull(e.rnd, out); err != nil {
		return fmt.Errorf("epoch state nonce: %w", err)
	}
	out = e.aead.Seal(out, out, plain, []byte(epochsAAD))
	if err := fsutil.WriteFileAtomic(e.path, out, 0o600); err != nil {
		return fmt.Errorf("save epoch state: %w", err)
	}
	return nil
}

// ack returns the epoch cluster last confirmed; a cluster that never did
// is taken to be at the current epoch (it holds no old handles).
func (e *epochs) ack(cluster string) Epoch {
	if a, ok := e.state.Acks[cluster]; ok {
		return a
	}
	return e.state.Current
}

// rotate moves to a new epoch with a fresh secret. It does not save.
func (e *epochs) rotate(now time.Time) (Epoch, error) {
	var s [32]byte
	if _, err := io.ReadFull(e.rnd, s[:]); err != nil {
		return 0, fmt.Errorf("epoch secret: %w", err)
	}
	k, err := newEpochKey(s)
	if err != nil {
		return 0, err
	}
	e.state.Current++
	e.state.RotatedAt = now
	e.state.Secrets[e.state.Current] = s
	e.keys[e.state.Current] = k
	return e.state.Current, nil
}

// prune forgets the keys no cluster can still need: below the oldest
// acknowledged epoch of the clusters in keep, and below the previous epoch
// (kept for the grace window).
func (e *epochs) prune(keep []string) {
	floor := e.state.Current - 1
	if floor == 0 {
		floor = 1
	}
	for _, c := range keep {
		floor = min(floor, e.ack(c))
	}
	for ep := range e.state.Secrets {
		if ep < floor {
			delete(e.state.Secrets, ep)
			delete(e.keys, ep)
		}
	}
}

// change applies mutate to the state and saves it; if either fails, the
// state is put back as it was.
func (e *epochs) change(mutate func() error) error {
	saved := e.state
	saved.Secrets = maps.Clone(e.state.Secrets)
	saved.Acks = maps.Clone(e.state.Acks)
	savedKeys := maps.Clone(e.keys)
	err := mutate()
	if err == nil {
		err = e.save()
	}
	if err != nil {
		e.state, e.keys = saved, savedKeys
	}
	return err
}
