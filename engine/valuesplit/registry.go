package valuesplit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/journal"
)

// Registry limits.
const (
	MaxUsers    = 1 << 20
	MaxClusters = 1024
	maxRegRec   = 4 << 10
)

// User is an entry of the center's user information (Fig. 17B).
type User struct {
	ID      string    `json:"user_id"`
	Email   string    `json:"email"`
	Enabled bool      `json:"enabled"` // the valid flag
	Created time.Time `json:"created_at"`
}

// ClusterInfo is an entry of the center's cluster information (Fig. 17A).
type ClusterInfo struct {
	ID         string    `json:"cluster_id"`
	URL        string    `json:"url,omitempty"`         // where users and peers reach it
	AdminEmail string    `json:"admin_email,omitempty"` // where the monitor sends alerts
	Enabled    bool      `json:"enabled"`               // the valid flag
	Created    time.Time `json:"created_at"`
}

// registry is a durable map from id to entry: a journal of whole entries,
// the latest per id winning. Entries are never deleted — a user or cluster
// is disabled instead, so ids cannot be reused for someone else.
type registry[T any] struct {
	mu      sync.RWMutex
	what    string
	limit   int
	j       *journal.Journal
	entries map[string]T
	id      func(*T) string
	enabled func(*T) *bool
}

func openRegistry[T any](path, what string, limit int, id func(*T) string, enabled func(*T) *bool) (*registry[T], journal.Stats, error) {
	r := &registry[T]{what: what, limit: limit, entries: map[string]T{}, id: id, enabled: enabled}
	records := 0
	j, st, err := journal.Open(path, maxRegRec, func(b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("decode %s entry: %w", what, err)
		}
		r.entries[id(&v)] = v
		records++
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("open %s registry: %w", what, err)
	}
	r.j = j
	if records > 2*len(r.entries)+64 {
		if err := r.compact(); err != nil {
			j.Close()
			return nil, st, err
		}
	}
	return r, st, nil
}

// compact rewrites the journal with one record per entry.
func (r *registry[T]) compact() error {
	recs := make([][]byte, 0, len(r.entries))
	for _, v := range r.entries {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s entry: %w", r.what, err)
		}
		recs = append(recs, b)
	}
	if err := r.j.Rewrite(recs); err != nil {
		return fmt.Errorf("compact %s registry: %w", r.what, err)
	}
	return nil
}

func (r *registry[T]) put(v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s entry: %w", r.what, err)
	}
	if err := r.j.Append(b); err != nil {
		return fmt.Errorf("save %s %s: %w", r.what, r.id(&v), err)
	}
	r.entries[r.id(&v)] = v
	return nil
}

func (r *registry[T]) add(v T) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[r.id(&v)]; ok {
		return fmt.Errorf("%w: %s %s", ErrExists, r.what, r.id(&v))
	}
	if len(r.entries) >= r.limit {
		return fmt.Errorf("%w: %s registry is full (%d)", ErrInvalid, r.what, r.limit)
	}
	return r.put(v)
}

func (r *registry[T]) get(id string) (T, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.entries[id]
	if !ok {
		return v, fmt.Errorf("%w: %s %q", ErrNotFound, r.what, short(id))
	}
	return v, nil
}

// check returns nil if id exists and is enabled.
func (r *registry[T]) check(id string) error {
	v, err := r.get(id)
	if err != nil {
		return err
	}
	if !*r.enabled(&v) {
		return fmt.Errorf("%w: %s %s", ErrDisabled, r.what, id)
	}
	return nil
}

func (r *registry[T]) setEnabled(id string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.entries[id]
	if !ok {
		return fmt.Errorf("%w: %s %q", ErrNotFound, r.what, short(id))
	}
	if *r.enabled(&v) == on {
		return nil
	}
	*r.enabled(&v) = on
	return r.put(v)
}

func (r *registry[T]) list() []T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]T, 0, len(r.entries))
	for _, v := range r.entries {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(r.id(&a), r.id(&b)) })
	return out
}

func (r *registry[T]) close() error { return r.j.Close() }

// UserRegistry is the center's user information store (Fig. 17B).
type UserRegistry struct{ r *registry[User] }

func openUsers(path string) (*UserRegistry, journal.Stats, error) {
	r, st, err := openRegistry(path, "user", MaxUsers,
		func(u *User) string { return u.ID }, func(u *User) *bool { return &u.Enabled })
	return &UserRegistry{r}, st, err
}

// Add registers a new, enabled user.
func (u *UserRegistry) Add(id, email string, now time.Time) (User, error) {
	if err := CheckID("user id", id); err != nil {
		return User{}, err
	}
	if err := CheckEmail(email); err != nil {
		return User{}, err
	}
	v := User{ID: id, Email: email, Enabled: true, Created: now.UTC()}
	return v, u.r.add(v)
}

// Get returns a user.
func (u *UserRegistry) Get(id string) (User, error) { return u.r.get(id) }

// Check returns nil if the user exists and is enabled; otherwise an error
// wrapping ErrNotFound or ErrDisabled.
func (u *UserRegistry) Check(id string) error { return u.r.check(id) }

// Disable clears the user's valid flag: they can no longer register,
// acquire or transfer anything, and nothing can be transferred to them.
func (u *UserRegistry) Disable(id string) error { return u.r.setEnabled(id, false) }

// Enable sets the user's valid flag again.
func (u *UserRegistry) Enable(id string) error { return u.r.setEnabled(id, true) }

// List returns every user, sorted by id.
func (u *UserRegistry) List() []User { return u.r.list() }

// ClusterRegistry is the center's cluster information store (Fig. 17A).
type ClusterRegistry struct{ r *registry[ClusterInfo] }

func openClusters(path string) (*ClusterRegistry, journal.Stats, error) {
	r, st, err := openRegistry(path, "cluster", MaxClusters,
		func(c *ClusterInfo) string { return c.ID }, func(c *ClusterInfo) *bool { return &c.Enabled })
	return &ClusterRegistry{r}, st, err
}

// Add registers a new, enabled cluster. url and adminEmail may be empty.
func (c *ClusterRegistry) Add(id, url, adminEmail string, now time.Time) (ClusterInfo, error) {
	if err := CheckID("cluster id", id); err != nil {
		return ClusterInfo{}, err
	}
	if adminEmail != "" {
		if err := CheckEmail(adminEmail); err != nil {
			return ClusterInfo{}, err
		}
	}
	if len(url) > 1024 || strings.ContainsAny(url, " \r\n\t") {
		return ClusterInfo{}, fmt.Errorf("%w: cluster URL must be ≤ 1024 bytes without spaces", ErrInvalid)
	}
	v := ClusterInfo{ID: id, URL: url, AdminEmail: adminEmail, Enabled: true, Created: now.UTC()}
	return v, c.r.add(v)
}

// Get returns a cluster.
func (c *ClusterRegistry) Get(id string) (ClusterInfo, error) { return c.r.get(id) }

// ByURL returns the cluster with the given URL (the SPEC's to_cluster).
func (c *ClusterRegistry) ByURL(url string) (ClusterInfo, error) {
	for _, v := range c.r.list() {
		if v.URL != "" && v.URL == url {
			return v, nil
		}
	}
	return ClusterInfo{}, fmt.Errorf("%w: cluster at %q", ErrNotFound, short(url))
}

// Check returns nil if the cluster exists and is enabled.
func (c *ClusterRegistry) Check(id string) error { return c.r.check(id) }

// Disable clears the cluster's valid flag: the center refuses every
// request from it and every transfer to it.
func (c *ClusterRegistry) Disable(id string) error { return c.r.setEnabled(id, false) }

// Enable sets the cluster's valid flag again.
func (c *ClusterRegistry) Enable(id string) error { return c.r.setEnabled(id, true) }

// List returns every cluster, sorted by id.
func (c *ClusterRegistry) List() []ClusterInfo { return c.r.list() }
