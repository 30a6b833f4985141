package partition

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
)

// MaxPartitions bounds the partitions of one node: each is a Raft group,
// and the transport addresses a partition with one byte.
const MaxPartitions = 256

// RuleXXHash64Mod places an id by xxhash64 of its 16 little-endian bytes
// modulo the partition count.
const RuleXXHash64Mod = "xxhash64-mod"

// Map places accounts (and keys) on partitions.
type Map struct {
	Partitions int    `json:"partitions"`
	Rule       string `json:"rule"`
}

// ErrMismatch means a data directory was created with another placement.
var ErrMismatch = errors.New("partition map differs from the one the data was written with")

// New returns the default map over n partitions.
func New(n int) (Map, error) {
	m := Map{Partitions: n, Rule: RuleXXHash64Mod}
	return m, m.validate()
}

func (m Map) validate() error {
	if m.Partitions < 1 || m.Partitions > MaxPartitions {
		return fmt.Errorf("partitions %d: must be 1..%d", m.Partitions, MaxPartitions)
	}
	if m.Rule != RuleXXHash64Mod {
		return fmt.Errorf("unknown placement rule %q (known: %s)", m.Rule, RuleXXHash64Mod)
	}
	return nil
}

// OfID returns the partition of a 128-bit id given as its two halves.
func (m Map) OfID(lo, hi uint64) int {
	if m.Partitions == 1 {
		return 0
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], lo)
	binary.LittleEndian.PutUint64(b[8:], hi)
	return int(xxhash.Sum64(b[:]) % uint64(m.Partitions))
}

// OfKey returns the partition of a key of the key-value space.
func (m Map) OfKey(key []byte) int {
	if m.Partitions == 1 {
		return 0
	}
	return int(xxhash.Sum64(key) % uint64(m.Partitions))
}

const fileName = "partitions.json"

// Persist binds the map to a data directory: the first call writes it, later
// calls check that it has not changed. Moving accounts between partitions
// would separate them from their history, so a change is refused, never
// applied silently.
func (m Map) Persist(dir string) error {
	if err := m.validate(); err != nil {
		return err
	}
	path := filepath.Join(dir, fileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return writeFileSync(path, m)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var stored Map
	if err := json.Unmarshal(b, &stored); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if stored != m {
		return fmt.Errorf("%s says %d partitions by %s, asked for %d by %s: %w",
			path, stored.Partitions, stored.Rule, m.Partitions, m.Rule, ErrMismatch)
	}
	return nil
}

// Load reads the map a data directory was written with, if any.
func Load(dir string) (Map, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileName))
	if errors.Is(err, os.ErrNotExist) {
		return Map{}, false, nil
	}
	if err != nil {
		return Map{}, false, err
	}
	var m Map
	if err := json.Unmarshal(b, &m); err != nil {
		return Map{}, false, fmt.Errorf("%s: %w", fileName, err)
	}
	return m, true, m.validate()
}

// writeFileSync writes the map durably: temp file, fsync, rename, fsync dir.
func writeFileSync(path string, m Map) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
