package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/client"
	"github.com/conto-ledger/conto/transactor"
)

// Target is what the harness drives: creates, and the lookups validation
// needs.
type Target interface {
	CreateAccounts(ctx context.Context, accts []ledger.Account) ([]ledger.Result, error)
	CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error)
	LookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error)
	LookupTransfers(ctx context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error)
	Close() error
}

// OpenTarget opens "inproc" (a fresh durable single node in a temporary
// directory, committing through the same Raft and store path as conto
// serve), "inproc-nochains" (the same with the hash chains off, to measure
// what chaining costs) or an "http://host:port" URL (through the Go client).
func OpenTarget(spec, apiKey string) (Target, error) {
	switch {
	case spec == "inproc" || spec == "inproc-nochains":
		return openInproc(spec == "inproc-nochains")
	case strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://"):
		opts := []client.Option{}
		if apiKey != "" {
			opts = append(opts, client.WithAPIKey(apiKey))
		}
		return httpTarget{client.New(strings.TrimRight(spec, "/"), opts...)}, nil
	}
	return nil, fmt.Errorf("unknown target %q: want inproc or http://HOST:PORT", spec)
}

type httpTarget struct{ *client.Client }

func (httpTarget) Close() error { return nil }

// inproc is a real node in a temporary directory.
type inproc struct {
	dir  string
	node *transactor.Node
	eng  *engine.Engine
}

func openInproc(noChains bool) (*inproc, error) {
	dir, err := os.MkdirTemp("", "conto-bench-")
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := transactor.OpenNode(transactor.NodeConfig{Dir: dir, RaftAddr: "127.0.0.1:0", Partitions: 1,
		Bootstrap: true, Logger: quiet, Tune: func(c *transactor.Config) { c.NoChains = noChains }})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for !node.Partition(0).IsLeader() {
		if time.Now().After(deadline) {
			node.Close()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("inproc node did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &inproc{dir: dir, node: node, eng: engine.New(node)}, nil
}

func (t *inproc) CreateAccounts(ctx context.Context, a []ledger.Account) ([]ledger.Result, error) {
	return t.eng.CreateAccounts(ctx, a)
}

func (t *inproc) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	return t.eng.CreateTransfers(ctx, ts)
}

func (t *inproc) LookupAccounts(_ context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	st := t.node.Partition(0).Store()
	var out []ledger.Account
	for _, id := range ids {
		if a, ok := st.Account(id); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func (t *inproc) LookupTransfers(_ context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error) {
	st := t.node.Partition(0).Store()
	var out []ledger.Transfer
	for _, id := range ids {
		if tr, ok := st.Transfer(id); ok {
			out = append(out, tr)
		}
	}
	return out, nil
}

func (t *inproc) Close() error {
	err := t.node.Close()
	os.RemoveAll(t.dir)
	return err
}
