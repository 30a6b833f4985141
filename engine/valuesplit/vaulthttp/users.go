package vaulthttp

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/internal/journal"
)

// UserTokensFile is where a cluster server keeps its users' token hashes.
const UserTokensFile = "user-tokens.log"

// UserTokens maps users' bearer tokens to user ids at one cluster. Only
// SHA-256 hashes of the tokens are kept, in an append-only journal; a new
// token for a user replaces the old one.
type UserTokens struct {
	mu     sync.RWMutex
	j      *journal.Journal
	byHash map[SecretHash]string
	byUser map[string]SecretHash
}

type tokenRecord struct {
	User string `json:"user"`
	Hash string `json:"sha256"`
}

// OpenUserTokens opens (creating) the token journal at path.
func OpenUserTokens(path string) (*UserTokens, error) {
	u := &UserTokens{byHash: map[SecretHash]string{}, byUser: map[string]SecretHash{}}
	j, _, err := journal.Open(path, 1<<10, func(b []byte) error {
		var r tokenRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("decode user token record: %w", err)
		}
		var h SecretHash
		if n, err := hex.Decode(h[:], []byte(r.Hash)); err != nil || n != len(h) {
			return fmt.Errorf("user token record for %s: bad hash", r.User)
		}
		u.set(r.User, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open user tokens: %w", err)
	}
	u.j = j
	return u, nil
}

func (u *UserTokens) set(user string, h SecretHash) {
	if old, ok := u.byUser[user]; ok {
		delete(u.byHash, old)
	}
	u.byUser[user] = h
	u.byHash[h] = user
}

// Close closes the journal.
func (u *UserTokens) Close() error { return u.j.Close() }

// Has reports whether user has a token here.
func (u *UserTokens) Has(user string) bool {
	u.mu.RLock()
	defer u.mu.RUnlock()
	_, ok := u.byUser[user]
	return ok
}

// Issue makes a new token for user (replacing any earlier one) and returns
// it; only its hash is stored.
func (u *UserTokens) Issue(user string) (string, error) {
	if err := vs.CheckID("user id", user); err != nil {
		return "", err
	}
	tok, err := NewSecret()
	if err != nil {
		return "", err
	}
	h := HashSecret(tok)
	b, err := json.Marshal(tokenRecord{User: user, Hash: hex.EncodeToString(h[:])})
	if err != nil {
		return "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.j.Append(b); err != nil {
		return "", fmt.Errorf("store user token: %w", err)
	}
	u.set(user, h)
	return tok, nil
}

// User returns the user a token belongs to. The token is hashed first, so
// the map lookup's timing says nothing about the token.
func (u *UserTokens) User(token string) (string, bool) {
	h := HashSecret(token)
	u.mu.RLock()
	defer u.mu.RUnlock()
	user, ok := u.byHash[h]
	return user, ok
}
