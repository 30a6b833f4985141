package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/gateway"
	"github.com/conto-ledger/conto/partition"
	"github.com/conto-ledger/conto/shm"
	"github.com/conto-ledger/conto/transactor"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// serveConfig is conto serve's configuration: flags, or the same keys in a
// JSON file given with --config (flags given explicitly win).
type serveConfig struct {
	Data       string `json:"data"`
	HTTP       string `json:"http"`
	Raft       string `json:"raft"`
	Join       string `json:"join"`
	NodeID     string `json:"node_id"`
	Partitions int    `json:"partitions"`
	Insecure   bool   `json:"insecure"`
	// Request coalescing (gateway.Config).
	BatchEvents int           `json:"batch_events"`
	BatchWindow time.Duration `json:"batch_window"`
	// CPUProfile writes a CPU profile of the whole run, on shutdown.
	CPUProfile string `json:"cpu_profile"`
	// EngineSocket is a unix socket where HTTP fronts (conto gateway)
	// connect to this data service over shared memory.
	EngineSocket string `json:"engine_socket"`
	// Hash chains: the algorithm new records use, versions between signed
	// checkpoints, and whether the API hides counterparties' heads.
	ChainAlg        string `json:"chain_alg"`
	CheckpointEvery uint64 `json:"checkpoint_every"`
	ChainView       string `json:"chain_view"`
	// Handoff is how coalesced batches reach the engine: "ring" (shared
	// memory, as to a separate front) or "direct" (a function call).
	Handoff string `json:"handoff"`
	// Vault runs the split-storage module (SPEC §7) in this process. A
	// flag only (--vault=false): a config file cannot tell false from unset.
	Vault            bool          `json:"-"`
	VaultRotateEvery time.Duration `json:"vault_rotate_every"`
}

// errUsage marks a bad flag or config: exit 2 with a one-line reason.
var errUsage = errors.New("usage")

// errHelp asks for the flags' help.
var errHelp = errors.New("help")

func parseServe(args []string, stdout io.Writer) (serveConfig, error) {
	c := serveConfig{Data: "./conto-data", HTTP: "127.0.0.1:7070", Raft: "127.0.0.1:7071", Partitions: 1,
		ChainAlg: "sha256", CheckpointEvery: 1024, ChainView: "public", Handoff: "ring",
		Vault: true, VaultRotateEvery: 24 * time.Hour}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := fs.String("config", "", "JSON file with the same keys as the flags")
	fs.StringVar(&c.Data, "data", c.Data, "data directory")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP listen address")
	fs.StringVar(&c.Raft, "raft", c.Raft, "Raft listen address, also how peers reach this node")
	fs.StringVar(&c.Join, "join", "", "Raft address of a cluster member to join (empty: start or restart a cluster)")
	fs.StringVar(&c.NodeID, "node-id", "", "node id (default: the one in the data directory, or a new one)")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "number of partitions (fixed for the life of the data)")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow a non-loopback HTTP address without authentication")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file on shutdown")
	fs.StringVar(&c.EngineSocket, "engine-socket", "", "unix socket for conto gateway processes (shared-memory hand-off)")
	fs.StringVar(&c.ChainAlg, "chain-alg", c.ChainAlg, "hash algorithm of new chain records: sha256 or blake2b-256 (a change migrates every chain)")
	fs.Uint64Var(&c.CheckpointEvery, "checkpoint-every", c.CheckpointEvery, "versions between signed checkpoints of the chains")
	fs.StringVar(&c.ChainView, "chain-view", c.ChainView, "public, or private: an account's chain shows only commitments of its counterparties' heads")
	fs.BoolVar(&c.Vault, "vault", c.Vault, "run the split-storage module (SPEC §7: a center and a cluster server) in this process")
	fs.DurationVar(&c.VaultRotateEvery, "vault-rotate-every", c.VaultRotateEvery, "rotate the vault's handles this often (at most 24h)")
	fs.StringVar(&c.Handoff, "handoff", c.Handoff, "how batches reach the engine: ring (shared memory) or direct (a call)")
	fs.IntVar(&c.BatchEvents, "batch-events", 8189, "most events coalesced into one batch (1..8189)")
	fs.DurationVar(&c.BatchWindow, "batch-window", 0, "how long a batch waits for more requests to join it (0: it takes what queued while earlier batches committed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: conto serve [flags]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return c, errHelp
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *config != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if err := c.merge(*config, set); err != nil {
			return c, err
		}
	}
	return c, c.validate()
}

// merge reads a JSON config file; flags given on the command line win.
func (c *serveConfig) merge(path string, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: config: %v", errUsage, err)
	}
	var fromFile serveConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fromFile); err != nil {
		return fmt.Errorf("%w: config %s: %v", errUsage, path, err)
	}
	pick := func(name string, dst *string, v string) {
		if !set[name] && v != "" {
			*dst = v
		}
	}
	pick("data", &c.Data, fromFile.Data)
	pick("http", &c.HTTP, fromFile.HTTP)
	pick("raft", &c.Raft, fromFile.Raft)
	pick("join", &c.Join, fromFile.Join)
	pick("node-id", &c.NodeID, fromFile.NodeID)
	if !set["partitions"] && fromFile.Partitions != 0 {
		c.Partitions = fromFile.Partitions
	}
	if !set["insecure"] && fromFile.Insecure {
		c.Insecure = true
	}
	if !set["batch-events"] && fromFile.BatchEvents != 0 {
		c.BatchEvents = fromFile.BatchEvents
	}
	if !set["batch-window"] && fromFile.BatchWindow != 0 {
		c.BatchWindow = fromFile.BatchWindow // JSON: nanoseconds
	}
	pick("chain-alg", &c.ChainAlg, fromFile.ChainAlg)
	pick("chain-view", &c.ChainView, fromFile.ChainView)
	pick("handoff", &c.Handoff, fromFile.Handoff)
	if !set["vault-rotate-every"] && fromFile.VaultRotateEvery != 0 {
		c.VaultRotateEvery = fromFile.VaultRotateEvery // JSON: nanoseconds
	}
	if !set["checkpoint-every"] && fromFile.CheckpointEvery != 0 {
		c.CheckpointEvery = fromFile.CheckpointEvery
	}
	return nil
}

// checkExposure refuses a non-loopback HTTP address unless API keys are
// configured or --insecure is given (SPEC §5).
func (c *serveConfig) checkExposure(keys int) error {
	if !c.Insecure && keys == 0 && !isLoopback(c.HTTP) {
		return fmt.Errorf("%w: refusing to serve HTTP on %s without authentication; bind 127.0.0.1, create an API key (conto keys add --data %s), or pass --insecure", errUsage, c.HTTP, c.Data)
	}
	return nil
}

func (c *serveConfig) validate() error {
	if c.BatchEvents < 1 || c.BatchEvents > 8189 {
		return fmt.Errorf("%w: --batch-events %d: must be 1..8189", errUsage, c.BatchEvents)
	}
	if c.BatchWindow < 0 || c.BatchWindow > time.Second {
		return fmt.Errorf("%w: --batch-window %s: must be in [0, 1s]", errUsage, c.BatchWindow)
	}
	if _, err := hashchain.ParseAlg(c.ChainAlg); err != nil {
		return fmt.Errorf("%w: --chain-alg: %v", errUsage, err)
	}
	if c.CheckpointEvery < 1 {
		return fmt.Errorf("%w: --checkpoint-every must be at least 1", errUsage)
	}
	if c.VaultRotateEvery <= 0 || c.VaultRotateEvery > 24*time.Hour {
		return fmt.Errorf("%w: --vault-rotate-every %s: must be in (0, 24h]", errUsage, c.VaultRotateEvery)
	}
	if c.Handoff != "ring" && c.Handoff != "direct" {
		return fmt.Errorf("%w: --handoff %q: must be ring or direct", errUsage, c.Handoff)
	}
	if c.ChainView != "public" && c.ChainView != "private" {
		return fmt.Errorf("%w: --chain-view %q: must be public or private", errUsage, c.ChainView)
	}
	if _, err := partition.New(c.Partitions); err != nil {
		return fmt.Errorf("%w: --partitions: %v", errUsage, err)
	}
	for name, addr := range map[string]string{"--http": c.HTTP, "--raft": c.Raft} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%w: %s %q: %v", errUsage, name, addr, err)
		}
	}
	keys, err := gateway.LoadKeyHashes(c.Data)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return c.checkExposure(len(keys))
}

// isLoopback reports whether a listen address only accepts local clients.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs a node and its HTTP gateway until SIGINT or SIGTERM.
func serve(args []string, stdout, stderr io.Writer) int {
	c, err := parseServe(args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "conto serve: %v\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := runServe(c, log, stdout); err != nil {
		fmt.Fprintf(stderr, "conto serve: %v\n", err)
		if errors.Is(err, partition.ErrMismatch) {
			return 2 // the flags contradict the data directory
		}
		return 1
	}
	return 0
}

func runServe(c serveConfig, log *slog.Logger, stdout io.Writer) error {
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	alg, _ := hashchain.ParseAlg(c.ChainAlg) // validated
	node, err := transactor.OpenNode(transactor.NodeConfig{Dir: c.Data, NodeID: c.NodeID, RaftAddr: c.Raft,
		Partitions: c.Partitions, Bootstrap: c.Join == "", Forward: true, Logger: log, RaftLog: os.Stderr,
		ChainAlg: alg, CheckpointEvery: c.CheckpointEvery})
	if err != nil {
		return err
	}
	defer node.Close()
	if c.Join != "" {
		if err := joinWithRetry(node, c.Join, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.HTTP, err)
	}
	keys, err := gateway.LoadKeyHashes(c.Data)
	if err != nil {
		return err
	}
	eng := engine.New(node)
	var handoff *gateway.Handoff
	if c.Handoff == "ring" {
		h, stop, err := gateway.InProcessHandoff(eng, func(conn *shm.Conn) { gateway.ServeEngineRing(conn, eng, log) })
		if err != nil {
			return fmt.Errorf("shared-memory hand-off: %w", err)
		}
		defer stop() // after the server drained its batches (Shutdown below)
		handoff = h
	}
	cfg := gateway.Config{Engine: eng, Node: node, Logger: log, Handoff: handoff,
		BatchEvents: c.BatchEvents, BatchWindow: c.BatchWindow, APIKeys: keys, PrivateChains: c.ChainView == "private"}
	if c.Vault {
		v, err := startVault(c.Data, "http://"+ln.Addr().String(), eng, c.VaultRotateEvery, log, stdout)
		if err != nil {
			return err
		}
		defer v.stop()
		cluster, center := fasthttpadaptor.NewFastHTTPHandler(v.cluster), fasthttpadaptor.NewFastHTTPHandler(v.center)
		cfg.Mount = func(p string) bool { a, b := isVaultPath(p); return a || b }
		cfg.Mounted = func(ctx *fasthttp.RequestCtx) {
			switch p := string(ctx.Path()); {
			case p == vaultMetrics: // the cluster's metrics (the ledger's are /metrics)
				ctx.Request.SetRequestURI("/metrics")
				cluster(ctx)
			case p == vaultCenterMetrics:
				ctx.Request.SetRequestURI("/metrics")
				center(ctx)
			case strings.HasPrefix(p, "/center/v1/"):
				center(ctx)
			default:
				cluster(ctx)
			}
		}
		cfg.MountedBodySize = 64<<20 + 1<<20
	}
	srv := gateway.New(cfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if c.EngineSocket != "" {
		rings, err := shm.Listen(c.EngineSocket, gateway.RingCapacity)
		if err != nil {
			return err
		}
		defer rings.Close()
		go srv.ServeRings(rings)
	}
	fmt.Fprintf(stdout, "conto: serving http://%s (node %s, raft %s, %d partition(s), data %s)\n",
		ln.Addr(), node.ID(), node.Addr(), c.Partitions, c.Data)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case err := <-served:
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Stop accepting and drain requests in progress, then close Raft and
	// the stores (deferred).
	return srv.Shutdown(ctx)
}

// joinWithRetry asks the member at addr to add this node, retrying while
// the cluster elects leaders, for at most a minute.
func joinWithRetry(node *transactor.Node, addr string, log *slog.Logger) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := node.Join(ctx, addr)
		cancel()
		if err == nil {
			log.Info("joined the cluster", "via", addr, "node", node.ID())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("join via %s: %w", addr, err)
		}
		log.Warn("join failed, retrying", "via", addr, "err", err)
		time.Sleep(time.Second)
	}
}
