package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/conto-ledger/conto/engine"
	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/notify"
	"github.com/conto-ledger/conto/engine/valuesplit/vaulthttp"
)

// The split-storage module inside conto serve (SPEC §7: a cluster server
// and a center server in one process by default). The center listens on a
// loopback port of its own, so cluster-to-center traffic is the same
// authenticated HTTP as between processes, and its account book is the
// engine's ledger (the independent book of claim 10). The cluster's API
// (SPEC §7) and the center's admin endpoints are served on the node's HTTP
// port.

const localCluster = "local"

// vault is the running module.
type vault struct {
	cluster http.Handler // SPEC §7 endpoints
	center  http.Handler // /center/v1/... (admin commands use it)
	stop    func()
}

func startVault(dataDir, publicURL string, eng *engine.Engine, rotateEvery time.Duration, log *slog.Logger, stdout io.Writer) (*vault, error) {
	dir := filepath.Join(dataDir, "vault")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	key, err := localSecret(filepath.Join(dir, "cluster.key"))
	if err != nil {
		return nil, err
	}
	admin, printOnce, err := vaulthttp.SetupAdminToken(dir, "")
	if err != nil {
		return nil, err
	}
	if printOnce != "" {
		fmt.Fprintf(stdout, "conto: vault admin token (shown once; only its hash is kept): %s\n", printOnce)
	}
	mk, created, err := vs.LoadOrCreateMasterKey(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("vault: created a new master key; keep a copy off this disk", "file", filepath.Join(dir, "master.key"))
	}
	v := &vault{}
	var closers []func()
	v.stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*vault, error) { v.stop(); return nil, err }
	book, err := vs.NewLedgerBook(vs.EngineKV{Engine: eng}, "vault/book", mk)
	if err != nil {
		return fail(err)
	}
	center, _, err := vs.OpenCenter(vs.CenterConfig{Dir: filepath.Join(dir, "center"), MasterKey: mk, Book: book})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { center.Close() })
	mon, err := vs.NewMonitor(vs.MonitorConfig{Center: center, Notifier: &notify.Log{Logger: log}, Admins: []string{"root@localhost"},
		Retry: notify.RetryPolicy{Attempts: 3, Backoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Second}})
	if err != nil {
		return fail(err)
	}
	csrv, err := vaulthttp.NewCenterServer(vaulthttp.CenterServerConfig{Center: center, Monitor: mon, Dir: dir,
		ClusterKeys: map[string]vaulthttp.SecretHash{localCluster: vaulthttp.HashSecret(key)}, AdminToken: admin, Logger: log})
	if err != nil {
		return fail(err)
	}
	v.center = csrv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	hs := vaulthttp.NewHTTPServer(csrv)
	go hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	closers = append(closers, func() { cancel(); hs.Close() })
	go csrv.Run(ctx, vaulthttp.Schedule{RotateEvery: rotateEvery, CheckEvery: time.Minute})
	cc, err := vaulthttp.NewCenterClient("http://"+ln.Addr().String(), localCluster, key, nil)
	if err != nil {
		return fail(err)
	}
	if err := announce(cc, publicURL, "root@localhost", log); err != nil {
		return fail(err)
	}
	cluster, err := vs.OpenCluster(vs.ClusterConfig{ID: localCluster, Dir: filepath.Join(dir, "cluster"), Center: cc,
		Notifier: &notify.Log{Logger: log},
		Peers:    vaulthttp.Peers(cc, "", nil), DownloadLink: vaulthttp.DownloadLink(publicURL)})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { cluster.Close() })
	users, err := vaulthttp.OpenUserTokens(filepath.Join(dir, vaulthttp.UserTokensFile))
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { users.Close() })
	srv, err := vaulthttp.NewClusterServer(vaulthttp.ClusterServerConfig{Cluster: cluster, Center: cc, Directory: cc,
		Users: users, AdminToken: admin, PublicURL: publicURL, Logger: log})
	if err != nil {
		return fail(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	err = srv.Sync(sctx)
	scancel()
	if err != nil {
		return fail(fmt.Errorf("vault: bring the body store to the center's epoch: %w", err))
	}
	go srv.Run(ctx, vaulthttp.ClusterSchedule{SyncEvery: 5 * time.Second, SettleEvery: time.Minute})
	v.cluster = srv
	return v, nil
}

// The vault's metrics under conto serve (the node's /metrics is the
// ledger's).
const (
	vaultMetrics       = "/vault/metrics"
	vaultCenterMetrics = "/vault/center/metrics"
)

// isVaultPath reports whether an HTTP path is the vault's, not the ledger's.
func isVaultPath(p string) (cluster, center bool) {
	if p == vaultMetrics || p == vaultCenterMetrics {
		return true, false
	}
	for _, pre := range []string{"/v1/users", "/v1/values", "/v1/downloads/", "/v1/peer/"} {
		if p == pre || strings.HasPrefix(p, pre+"/") || (strings.HasSuffix(pre, "/") && strings.HasPrefix(p, pre)) {
			return true, false
		}
	}
	return false, strings.HasPrefix(p, "/center/v1/")
}

// localSecret reads a random secret kept in the data directory, creating it.
func localSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("vault: write %s: %w", path, err)
	}
	return s, nil
}
