package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/conto-ledger/conto/audit"
	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/conto-ledger/conto/partition"
	"github.com/conto-ledger/conto/transactor"
)

// verifyCmd runs "conto verify": --data DIR recomputes every hash chain,
// system hash and checkpoint offline; --url URL checks a running server's
// answers as an untrusting client. Exit 0 only when everything holds, 1 at
// the first problem (named), 2 on bad flags.
func verifyCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", "", "data directory to verify offline (the server must be stopped)")
	url := fs.String("url", "", "server to verify through its API, e.g. http://127.0.0.1:7070")
	apiKey := fs.String("api-key", "", "API key for --url (or CONTO_API_KEY)")
	var trust multiFlag
	fs.Var(&trust, "trust-key", "hex ed25519 public key allowed to sign checkpoints and stamps (repeatable); default: --data trusts its node.key.pub for checkpoints, --url the key the server names")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	partitions := fs.Int("partitions", 0, "--url: the cluster's partition count; a partition the server leaves out then fails the check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: conto verify (--data DIR | --url URL) [flags]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "conto verify: %v\n", err)
		return 2
	}
	if (*data == "") == (*url == "") {
		fmt.Fprintln(stderr, "conto verify: give exactly one of --data DIR or --url URL")
		return 2
	}
	keys, err := trust.keys()
	if err != nil {
		fmt.Fprintf(stderr, "conto verify: --trust-key: %v\n", err)
		return 2
	}
	progress := newProgress(stderr)
	if *data != "" {
		err = verifyData(*data, keys, stdout, progress)
	} else {
		if *apiKey == "" {
			*apiKey = os.Getenv("CONTO_API_KEY")
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		var rep *audit.Report
		rep, err = audit.Verify(ctx, audit.Options{URL: *url, APIKey: *apiKey, Trusted: keys, Progress: progress, Partitions: *partitions})
		if err == nil {
			fmt.Fprintf(stdout, "ok: %d blocks, %d events, %d accounts, %d transfers, %d checkpoints verified through %s\n",
				rep.Blocks, rep.Events, rep.Accounts, rep.Transfers, rep.Checkpoints, *url)
			if rep.TrustedOnFirstUse {
				fmt.Fprintf(stdout, "note: checkpoints were signed by %x, the key the server named; pin it with --trust-key\n", rep.Key)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", err)
		return 1
	}
	return 0
}

// verifyData verifies every partition of a stopped node's data directory.
func verifyData(dir string, trusted [][32]byte, stdout io.Writer, progress func(string)) error {
	m, ok, err := partition.Load(dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not a conto data directory (no partition map)", dir)
	}
	checkpointKeys := trusted
	if len(checkpointKeys) == 0 {
		fmt.Fprintf(stdout, "note: trusting the checkpoint key in %s (node.key.pub); whoever can change this directory can change that key too: pin it with --trust-key\n", dir)
		pub, err := readPublicKey(filepath.Join(dir, "node.key.pub"))
		if err != nil {
			return err
		}
		checkpointKeys = [][32]byte{pub}
	}
	for p := 0; p < m.Partitions; p++ {
		pdir := filepath.Join(dir, fmt.Sprintf("p%03d", p))
		cps, err := readCheckpointsFile(filepath.Join(pdir, "checkpoints"))
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		if len(cps) == 0 {
			fmt.Fprintf(stdout, "partition %d: warning: no signed checkpoint; the chains recompute but nothing anchors them\n", p)
		}
		for _, cp := range cps {
			if !containsKey(checkpointKeys, cp.PublicKey) {
				return fmt.Errorf("partition %d: checkpoint at version %d signed by untrusted key %x", p, cp.Version, cp.PublicKey)
			}
		}
		rep, err := store.Verify(store.VerifyOptions{Dir: filepath.Join(pdir, "store"), Partition: uint32(p),
			Checkpoints: cps, Trusted: trusted, Progress: func(done, last uint64) {
				progress(fmt.Sprintf("partition %d: version %d of %d", p, done, last))
			}})
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		fmt.Fprintf(stdout, "partition %d: ok: %d blocks, %d events, %d accounts, %d checkpoints, through version %d\n",
			p, rep.Blocks, rep.Events, rep.Accounts, rep.Checkpoints, rep.Version)
	}
	return nil
}

func readCheckpointsFile(path string) ([]hashchain.Checkpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cps, good, err := transactor.ReadCheckpoints(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoints file %s: %w", path, err)
	}
	if st, err := f.Stat(); err == nil && st.Size() != good {
		return nil, fmt.Errorf("checkpoints file %s: %d bytes after the last whole record", path, st.Size()-good)
	}
	return cps, nil
}

func readPublicKey(path string) ([32]byte, error) {
	var k [32]byte
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("node public key: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != 32 {
		return k, fmt.Errorf("node public key %s: not 32 bytes of hex", path)
	}
	copy(k[:], raw)
	return k, nil
}

func containsKey(keys [][32]byte, k [32]byte) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (m multiFlag) keys() ([][32]byte, error) {
	var out [][32]byte
	for _, s := range m {
		raw, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("%q is not a 32-byte hex public key", s)
		}
		var k [32]byte
		copy(k[:], raw)
		out = append(out, k)
	}
	return out, nil
}

// newProgress prints a progress line at most once a second.
func newProgress(w io.Writer) func(string) {
	var last time.Time
	return func(s string) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "verify: %s\n", s)
	}
}
