package vaulthttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// DirectoryFile is where a center server keeps the clusters' current URLs
// and administrator addresses, in its data directory.
//
// The library's ClusterRegistry records a cluster's URL and address once,
// when the cluster is added, and has no way to change them; a cluster that
// moves (or is restarted on another port) announces its new URL with
// hello, and the directory keeps it. Lookups read the directory first.
const DirectoryFile = "cluster-directory.json"

// ClusterEntry is what the center tells a cluster about another cluster.
type ClusterEntry struct {
	ID      string `json:"cluster_id"`
	URL     string `json:"url"`
	Enabled bool   `json:"enabled"`
}

type dirEntry struct {
	URL        string `json:"url"`
	AdminEmail string `json:"admin_email,omitempty"`
}

// directory is the center's map of cluster id → URL, durable in a JSON
// file replaced atomically on change (changes are rare: a cluster's
// start).
type directory struct {
	mu      sync.Mutex
	path    string
	entries map[string]dirEntry
}

func openDirectory(dir string) (*directory, error) {
	d := &directory{path: filepath.Join(dir, DirectoryFile), entries: map[string]dirEntry{}}
	b, err := os.ReadFile(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster directory: %w", err)
	}
	if err := json.Unmarshal(b, &d.entries); err != nil {
		return nil, fmt.Errorf("%w: cluster directory %s: %v", vs.ErrInvalid, d.path, err)
	}
	return d, nil
}

func (d *directory) saveLocked() error {
	b, err := json.MarshalIndent(d.entries, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster directory: %w", err)
	}
	if err := fsutil.WriteFileAtomic(d.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save cluster directory: %w", err)
	}
	return nil
}

// CheckClusterURL validates the URL a cluster is reached at: absolute
// http or https, no user info, query or fragment, at most 1024 bytes.
// It returns the URL without a trailing slash.
func CheckClusterURL(raw string) (string, error) {
	s := strings.TrimRight(raw, "/")
	if s == "" || len(s) > 1024 || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("%w: cluster URL %q must be 1..1024 bytes without spaces", vs.ErrInvalid, clip(raw))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: cluster URL %q must be an absolute http(s) URL", vs.ErrInvalid, clip(raw))
	}
	return s, nil
}

// hello records that cluster is reached at u, with admin address email.
// A URL claimed by another cluster is refused.
func (d *directory) hello(reg *vs.ClusterRegistry, cluster, u, email string, now time.Time) (ClusterEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, e := range d.entries {
		if id != cluster && e.URL == u {
			return ClusterEntry{}, fmt.Errorf("%w: URL %s belongs to cluster %s", vs.ErrConflict, u, id)
		}
	}
	info, err := reg.Get(cluster)
	if errors.Is(err, vs.ErrNotFound) {
		info, err = reg.Add(cluster, u, email, now)
		if errors.Is(err, vs.ErrExists) {
			info, err = reg.Get(cluster)
		}
	}
	if err != nil {
		return ClusterEntry{}, err
	}
	want := dirEntry{URL: u, AdminEmail: email}
	if d.entries[cluster] != want {
		d.entries[cluster] = want
		if err := d.saveLocked(); err != nil {
			return ClusterEntry{}, err
		}
	}
	return ClusterEntry{ID: cluster, URL: u, Enabled: info.Enabled}, nil
}

// lookup finds a cluster by id or by URL.
func (d *directory) lookup(reg *vs.ClusterRegistry, id, u string) (ClusterEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id == "" {
		for cid, e := range d.entries {
			if e.URL == u {
				id = cid
				break
			}
		}
		if id == "" {
			info, err := reg.ByURL(u)
			if err != nil {
				return ClusterEntry{}, err
			}
			id = info.ID
		}
	}
	info, err := reg.Get(id)
	if err != nil {
		return ClusterEntry{}, err
	}
	e := ClusterEntry{ID: id, URL: info.URL, Enabled: info.Enabled}
	if de, ok := d.entries[id]; ok {
		e.URL = de.URL
	}
	if u != "" && e.URL != u {
		return ClusterEntry{}, fmt.Errorf("%w: cluster at %q", vs.ErrNotFound, clip(u))
	}
	if e.URL == "" {
		return ClusterEntry{}, fmt.Errorf("%w: cluster %s has not announced its URL", vs.ErrNotFound, id)
	}
	return e, nil
}
