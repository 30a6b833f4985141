package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/notify"
	"github.com/conto-ledger/conto/engine/valuesplit/vaulthttp"
	contoclient "github.com/conto-ledger/conto/gateway/client"
)

// conto vault: the split-storage servers (SPEC §7) as separate processes —
// the center on the closed network, clusters facing users — and the
// operator commands that talk to the center's admin endpoints.

const vaultUsage = `usage: conto vault <command> [flags]

commands:
  center   run the center server: conto vault center --data DIR --listen ADDR --cluster-key NAME=KEYFILE ...
           [--rotate-every 24h] [--check-every 1m] [--admin-token-file F] [--smtp HOST:PORT --alert-to ADDR]
           [--webhook URL] [--master-key-file F] [--book FILE]
  cluster  run a cluster server: conto vault cluster --data DIR --center URL --name NAME --key-file F --http ADDR
           [--public-url URL] [--admin-token-file F] [--peer-key-file F] [--smtp HOST:PORT] [--admin-email ADDR]
  rotate   rotate the handles now: conto vault rotate --url CENTER_URL --admin-token-file FILE
  check    run the tamper monitor now (exit 1 naming the first bad block): conto vault check --url ... --admin-token-file ...
  repair   run the repair bot now: conto vault repair --url ... --admin-token-file ...
  disable  clear a user's or a cluster's valid flag: conto vault disable --url ... --admin-token-file ... (--user ID | --cluster ID)
  enable   set it again: conto vault enable ... (--user ID | --cluster ID)

Run conto vault <command> -h for every flag.
`

// Defaults: both servers bind loopback unless told otherwise.
const (
	defaultCenterListen = "127.0.0.1:7080"
	defaultClusterHTTP  = "127.0.0.1:7090"
)

func vaultCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, vaultUsage)
		return 2
	}
	switch args[0] {
	case "center":
		return vaultCenterCmd(args[1:], stdout, stderr)
	case "cluster":
		return vaultClusterCmd(args[1:], stdout, stderr)
	case "rotate", "check", "repair", "enable", "disable":
		return vaultAdminCmd(args[0], args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, vaultUsage)
		return 0
	}
	fmt.Fprintf(stderr, "conto vault: unknown command %q (try conto vault help)\n", args[0])
	return 2
}

// parseFlags parses fs; it prints the help for -h (errHelp) and turns any
// other failure into a one-line errUsage.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "usage: conto %s [flags]\n", fs.Name())
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// usageExit prints a flag error on one line and returns the exit code.
func usageExit(name string, err error, stderr io.Writer) int {
	if errors.Is(err, errHelp) {
		return 0
	}
	msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
	fmt.Fprintf(stderr, "conto %s: %s\n", name, strings.ReplaceAll(msg, "\n", " "))
	return 2
}

func checkAddr(flagName, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: %s %q: %v", errUsage, flagName, addr, err)
	}
	return nil
}

func checkEvery(flagName string, d, most time.Duration) error {
	if d != 0 && (d < time.Second || d > most) {
		return fmt.Errorf("%w: %s %v: must be 0 (off) or 1s..%v", errUsage, flagName, d, most)
	}
	return nil
}

// vaultCenterConfig is conto vault center's configuration.
type vaultCenterConfig struct {
	Data, Listen        string
	RotateEvery         time.Duration
	CheckEvery          time.Duration
	ClusterKeys         map[string]vaulthttp.SecretHash
	AdminTokenFile      string
	SMTP, MailFrom      string
	AlertTo             []string
	Webhook             string
	MasterKeyFile, Book string
	// Ledger is a conto node whose ledger keeps the account book (the
	// engine as the independent book); empty: the Book file.
	Ledger, LedgerAPIKey string
	Grace, TransferTTL   time.Duration
}

func parseVaultCenter(args []string, stdout io.Writer) (vaultCenterConfig, error) {
	c := vaultCenterConfig{ClusterKeys: map[string]vaulthttp.SecretHash{}}
	fs := flag.NewFlagSet("vault center", flag.ContinueOnError)
	fs.StringVar(&c.Data, "data", "./conto-vault-center", "data directory")
	fs.StringVar(&c.Listen, "listen", defaultCenterListen, "HTTP listen address of the center API (keep it on the closed network)")
	fs.DurationVar(&c.RotateEvery, "rotate-every", 24*time.Hour, "rotate the handles this often (0: only on conto vault rotate; at most 24h)")
	fs.DurationVar(&c.CheckEvery, "check-every", time.Minute, "run the tamper monitor this often, and once at start (0: only on conto vault check)")
	var keys, alertTo multiFlag
	fs.Var(&keys, "cluster-key", "NAME=KEYFILE: a cluster and the file holding its shared key (repeatable)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "file with the operators' admin token (created if missing; default: a token printed once on first start)")
	fs.StringVar(&c.SMTP, "smtp", "", "HOST:PORT of the SMTP server for tamper alerts")
	fs.Var(&alertTo, "alert-to", "administrator address for tamper alerts (repeatable)")
	fs.StringVar(&c.MailFrom, "mail-from", "conto-vault@localhost", "sender address of alerts")
	fs.StringVar(&c.Webhook, "webhook", "", "URL that also receives every alert as JSON {to,subject,body}")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "the center's master key (64 hex digits; created if missing; default DATA/master.key — keep a copy off this disk)")
	fs.StringVar(&c.Book, "book", "", "the independent account book file, when --ledger is not given (default DATA/book.log; put it on another disk)")
	fs.StringVar(&c.Ledger, "ledger", "", "http://HOST:PORT of a conto node whose ledger keeps the account book (optimistic transactions, SPEC §4)")
	fs.StringVar(&c.LedgerAPIKey, "ledger-api-key", "", "API key for --ledger")
	fs.DurationVar(&c.Grace, "grace", 0, "how long handles of the previous epoch still resolve after a rotation")
	fs.DurationVar(&c.TransferTTL, "transfer-ttl", vs.DefaultTransferTTL, "default lifetime of a pending transfer")
	if err := parseFlags(fs, args, stdout); err != nil {
		return c, err
	}
	if err := checkAddr("--listen", c.Listen); err != nil {
		return c, err
	}
	if err := checkEvery("--rotate-every", c.RotateEvery, 24*time.Hour); err != nil {
		return c, err
	}
	if err := checkEvery("--check-every", c.CheckEvery, 7*24*time.Hour); err != nil {
		return c, err
	}
	if len(keys) == 0 {
		return c, fmt.Errorf("%w: give each cluster's key with --cluster-key NAME=KEYFILE", errUsage)
	}
	for _, kv := range keys {
		name, file, ok := strings.Cut(kv, "=")
		if !ok || file == "" {
			return c, fmt.Errorf("%w: --cluster-key %q: want NAME=KEYFILE", errUsage, kv)
		}
		if err := vs.CheckID("cluster name", name); err != nil {
			return c, fmt.Errorf("%w: --cluster-key: %v", errUsage, err)
		}
		if _, dup := c.ClusterKeys[name]; dup {
			return c, fmt.Errorf("%w: --cluster-key: cluster %s given twice", errUsage, name)
		}
		key, err := vaulthttp.ReadSecretFile(file)
		if err != nil {
			return c, fmt.Errorf("%w: --cluster-key %s: %v", errUsage, name, err)
		}
		c.ClusterKeys[name] = vaulthttp.HashSecret(key)
	}
	if c.SMTP != "" {
		if err := checkAddr("--smtp", c.SMTP); err != nil {
			return c, err
		}
		if len(alertTo) == 0 {
			return c, fmt.Errorf("%w: --smtp needs --alert-to ADDR", errUsage)
		}
	}
	for _, a := range alertTo {
		if err := vs.CheckEmail(a); err != nil {
			return c, fmt.Errorf("%w: --alert-to: %v", errUsage, err)
		}
	}
	c.AlertTo = alertTo
	if err := vs.CheckEmail(c.MailFrom); err != nil {
		return c, fmt.Errorf("%w: --mail-from: %v", errUsage, err)
	}
	if c.Webhook != "" {
		if _, err := vaulthttp.CheckClusterURL(c.Webhook); err != nil {
			return c, fmt.Errorf("%w: --webhook: %v", errUsage, err)
		}
	}
	if c.Grace < 0 || c.Grace > 7*24*time.Hour {
		return c, fmt.Errorf("%w: --grace %v: must be 0..168h", errUsage, c.Grace)
	}
	if c.TransferTTL < time.Second || c.TransferTTL > vs.MaxTransferTTL {
		return c, fmt.Errorf("%w: --transfer-ttl %v: must be 1s..%v", errUsage, c.TransferTTL, vs.MaxTransferTTL)
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.Data, "master.key")
	}
	if c.Book == "" {
		c.Book = filepath.Join(c.Data, "book.log")
	}
	return c, nil
}

func vaultCenterCmd(args []string, stdout, stderr io.Writer) int {
	c, err := parseVaultCenter(args, stdout)
	if err != nil {
		return usageExit("vault center", err, stderr)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := runVaultCenter(c, log, stdout); err != nil {
		fmt.Fprintf(stderr, "conto vault center: %v\n", err)
		return 1
	}
	return 0
}

func runVaultCenter(c vaultCenterConfig, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	adminHash, printOnce, err := vaulthttp.SetupAdminToken(c.Data, c.AdminTokenFile)
	if err != nil {
		return err
	}
	mk, created, err := vs.LoadOrCreateMasterKey(c.MasterKeyFile)
	if err != nil {
		return err
	}
	if created {
		log.Warn("created a new master key; keep a copy off this disk: without it nothing in the chain opens", "file", c.MasterKeyFile)
	}
	var book vs.AccountBook
	if c.Ledger != "" {
		opts := []contoclient.Option{contoclient.WithJSON()}
		if c.LedgerAPIKey != "" {
			opts = append(opts, contoclient.WithAPIKey(c.LedgerAPIKey))
		}
		lb, err := vs.NewLedgerBook(clientKV{contoclient.New(c.Ledger, opts...)}, "vault/book", mk)
		if err != nil {
			return err
		}
		book = lb
	} else {
		fb, err := vs.OpenFileBook(c.Book)
		if err != nil {
			return err
		}
		defer fb.Close()
		book = fb
	}
	center, rec, err := vs.OpenCenter(vs.CenterConfig{Dir: filepath.Join(c.Data, "center"), MasterKey: mk, Book: book,
		Grace: c.Grace, TransferTTL: c.TransferTTL})
	if err != nil {
		return err
	}
	defer center.Close()
	if rec.Chain.TornBytes > 0 || rec.TornBytes > 0 {
		log.Warn("recovered from a crash", "chain_torn_bytes", rec.Chain.TornBytes, "journal_torn_bytes", rec.TornBytes)
	}
	admins := c.AlertTo
	if len(admins) == 0 {
		admins = []string{"root@localhost"} // alerts go to the log (and the webhook) only
	}
	mon, err := vs.NewMonitor(vs.MonitorConfig{Center: center, Notifier: alertNotifier(c, log), Admins: admins,
		Retry: notify.RetryPolicy{Attempts: 4, Backoff: 500 * time.Millisecond, MaxBackoff: 5 * time.Second}})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := vaulthttp.NewCenterServer(vaulthttp.CenterServerConfig{Center: center, Monitor: mon, Dir: c.Data,
		ClusterKeys: c.ClusterKeys, AdminToken: adminHash, Logger: log, Registry: reg, HoldUntilChecked: c.CheckEvery > 0})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	if !isLoopback(c.Listen) {
		log.Warn("the center listens beyond loopback without TLS: keep it on a closed network", "listen", c.Listen)
	}
	fmt.Fprintf(stdout, "conto vault center: serving http://%s (%d cluster key(s), data %s)\n", ln.Addr(), len(c.ClusterKeys), c.Data)
	if printOnce != "" {
		fmt.Fprintf(stdout, "conto vault center: admin token (shown once; only its hash is kept): %s\n", printOnce)
	}
	return serveUntilSignal(ln, srv, log, func(ctx context.Context) {
		srv.Run(ctx, vaulthttp.Schedule{RotateEvery: c.RotateEvery, CheckEvery: c.CheckEvery})
	})
}

// alertNotifier sends tamper alerts by SMTP and/or webhook, and always
// logs them.
func alertNotifier(c vaultCenterConfig, log *slog.Logger) notify.Notifier {
	f := &fanout{log: &notify.Log{Logger: log}}
	if c.SMTP != "" {
		f.to = append(f.to, &notify.SMTP{Addr: c.SMTP, From: c.MailFrom, Timeout: 20 * time.Second})
	}
	if c.Webhook != "" {
		f.to = append(f.to, &notify.Webhook{URL: c.Webhook, Client: &http.Client{Timeout: 20 * time.Second}})
	}
	return f
}

// fanout sends through every transport; the send succeeds if one of them
// delivered (retrying would duplicate the delivered copies), and the log
// always gets the message.
type fanout struct {
	log notify.Notifier
	to  []notify.Notifier
}

func (f *fanout) Send(ctx context.Context, to, subject, body string) error {
	f.log.Send(ctx, to, subject, body)
	if len(f.to) == 0 {
		return nil
	}
	var errs []error
	permanent := true
	for _, n := range f.to {
		err := n.Send(ctx, to, subject, body)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		permanent = permanent && notify.IsPermanent(err)
	}
	err := errors.Join(errs...)
	if permanent {
		return notify.Permanent(err)
	}
	return err
}

// serveUntilSignal serves ln until SIGINT or SIGTERM, running background
// alongside, then shuts down: stop accepting, drain requests, stop
// background.
func serveUntilSignal(ln net.Listener, h http.Handler, log *slog.Logger, background func(context.Context)) error {
	hs := vaulthttp.NewHTTPServer(h)
	hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		background(ctx)
	}()
	defer wg.Wait()
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case err := <-served:
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	return hs.Shutdown(sctx)
}

// vaultClusterConfig is conto vault cluster's configuration.
type vaultClusterConfig struct {
	Data, Center, Name, HTTP, PublicURL string
	Key, PeerKey                        string
	AdminTokenFile, AdminEmail          string
	SMTP, MailFrom                      string
	SyncEvery, SettleEvery, TransferTTL time.Duration
	// Split is how items are cut (claims 6, 11, 20, 22, 24).
	Split vs.SplitSpec
}

func parseVaultCluster(args []string, stdout io.Writer) (vaultClusterConfig, error) {
	var c vaultClusterConfig
	fs := flag.NewFlagSet("vault cluster", flag.ContinueOnError)
	fs.StringVar(&c.Data, "data", "./conto-vault-cluster", "data directory (the body store and user tokens)")
	fs.StringVar(&c.Center, "center", "", "the center server's URL (required)")
	fs.StringVar(&c.Name, "name", "", "this cluster's name at the center (required)")
	keyFile := fs.String("key-file", "", "file with this cluster's shared key, as given to the center's --cluster-key (required)")
	fs.StringVar(&c.HTTP, "http", defaultClusterHTTP, "HTTP listen address of the user API")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL users and other clusters reach this server at (default http://<listen address>)")
	fs.IntVar(&c.Split.HeadSize, "head-size", vs.DefaultHeadSize, "bytes of each item's ciphertext kept by the center (1..30)")
	headAt := fs.String("head-at", "start", "where the head is cut: start, or random (a window at a random offset)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "file with the admin token that creates users (created if missing; default: a token printed once on first start)")
	peerKeyFile := fs.String("peer-key-file", "", "file with the key clusters share for cross-cluster transfers (without it they are refused)")
	fs.StringVar(&c.AdminEmail, "admin-email", "", "this cluster's administrator, alerted when tampering touches its items")
	fs.StringVar(&c.SMTP, "smtp", "", "HOST:PORT of the SMTP server for transfer notices")
	fs.StringVar(&c.MailFrom, "mail-from", "conto-vault@localhost", "sender address of notices")
	fs.DurationVar(&c.SyncEvery, "sync-every", 5*time.Second, "how often to look for a handle rotation at the center (0: only when a request meets one)")
	fs.DurationVar(&c.SettleEvery, "settle-every", time.Minute, "how often to reconcile pending transfers (0: never in the background)")
	fs.DurationVar(&c.TransferTTL, "transfer-ttl", 0, "how long a transfer waits for its download (0: the center's default)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return c, err
	}
	if c.Center == "" || c.Name == "" || *keyFile == "" {
		return c, fmt.Errorf("%w: --center, --name and --key-file are required", errUsage)
	}
	u, err := vaulthttp.CheckClusterURL(c.Center)
	if err != nil {
		return c, fmt.Errorf("%w: --center: %v", errUsage, err)
	}
	c.Center = u
	if err := vs.CheckID("cluster name", c.Name); err != nil {
		return c, fmt.Errorf("%w: --name: %v", errUsage, err)
	}
	if c.Key, err = vaulthttp.ReadSecretFile(*keyFile); err != nil {
		return c, fmt.Errorf("%w: --key-file: %v", errUsage, err)
	}
	if *peerKeyFile != "" {
		if c.PeerKey, err = vaulthttp.ReadSecretFile(*peerKeyFile); err != nil {
			return c, fmt.Errorf("%w: --peer-key-file: %v", errUsage, err)
		}
		if c.PeerKey == c.Key {
			return c, fmt.Errorf("%w: the peer key must differ from the cluster's center key", errUsage)
		}
	}
	if err := checkAddr("--http", c.HTTP); err != nil {
		return c, err
	}
	if c.Split.HeadSize < 1 || c.Split.HeadSize > vs.MaxHeadSize {
		return c, fmt.Errorf("%w: --head-size %d: must be 1..%d", errUsage, c.Split.HeadSize, vs.MaxHeadSize)
	}
	switch *headAt {
	case "start":
	case "random":
		c.Split.RandomOffset = true
	default:
		return c, fmt.Errorf("%w: --head-at %q: must be start or random", errUsage, *headAt)
	}
	if c.PublicURL != "" {
		if c.PublicURL, err = vaulthttp.CheckClusterURL(c.PublicURL); err != nil {
			return c, fmt.Errorf("%w: --public-url: %v", errUsage, err)
		}
	}
	if c.AdminEmail != "" {
		if err := vs.CheckEmail(c.AdminEmail); err != nil {
			return c, fmt.Errorf("%w: --admin-email: %v", errUsage, err)
		}
	}
	if c.SMTP != "" {
		if err := checkAddr("--smtp", c.SMTP); err != nil {
			return c, err
		}
	}
	if err := vs.CheckEmail(c.MailFrom); err != nil {
		return c, fmt.Errorf("%w: --mail-from: %v", errUsage, err)
	}
	if err := checkEvery("--sync-every", c.SyncEvery, 24*time.Hour); err != nil {
		return c, err
	}
	if err := checkEvery("--settle-every", c.SettleEvery, 24*time.Hour); err != nil {
		return c, err
	}
	if c.TransferTTL != 0 && (c.TransferTTL < time.Second || c.TransferTTL > vs.MaxTransferTTL) {
		return c, fmt.Errorf("%w: --transfer-ttl %v: must be 0 or 1s..%v", errUsage, c.TransferTTL, vs.MaxTransferTTL)
	}
	return c, nil
}

func vaultClusterCmd(args []string, stdout, stderr io.Writer) int {
	c, err := parseVaultCluster(args, stdout)
	if err != nil {
		return usageExit("vault cluster", err, stderr)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("cluster", c.Name)
	if err := runVaultCluster(c, log, stdout); err != nil {
		fmt.Fprintf(stderr, "conto vault cluster: %v\n", err)
		return 1
	}
	return 0
}

func runVaultCluster(c vaultClusterConfig, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	adminHash, printOnce, err := vaulthttp.SetupAdminToken(c.Data, c.AdminTokenFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.HTTP, err)
	}
	defer ln.Close()
	public := c.PublicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	center, err := vaulthttp.NewCenterClient(c.Center, c.Name, c.Key, nil)
	if err != nil {
		return err
	}
	if err := announce(center, public, c.AdminEmail, log); err != nil {
		return err
	}
	// Transfer notices: SMTP when configured, else the log (never none).
	var notifier notify.Notifier = &notify.Log{Logger: log}
	if c.SMTP != "" {
		r, err := notify.NewRetrying(&notify.SMTP{Addr: c.SMTP, From: c.MailFrom, Timeout: 20 * time.Second},
			notify.RetryPolicy{Attempts: 3, Backoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Second})
		if err != nil {
			return err
		}
		notifier = r
	}
	cluster, err := vs.OpenCluster(vs.ClusterConfig{ID: c.Name, Dir: filepath.Join(c.Data, "store"), Center: center,
		Peers: vaulthttp.Peers(center, c.PeerKey, nil), Notifier: notifier, DownloadLink: vaulthttp.DownloadLink(public),
		Split: c.Split})
	if err != nil {
		return err
	}
	defer cluster.Close()
	users, err := vaulthttp.OpenUserTokens(filepath.Join(c.Data, vaulthttp.UserTokensFile))
	if err != nil {
		return err
	}
	defer users.Close()
	var peerHash vaulthttp.SecretHash
	if c.PeerKey != "" {
		peerHash = vaulthttp.HashSecret(c.PeerKey)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := vaulthttp.NewClusterServer(vaulthttp.ClusterServerConfig{Cluster: cluster, Center: center, Directory: center,
		Users: users, AdminToken: adminHash, PeerKey: peerHash, PublicURL: public, Logger: log, Registry: reg,
		TransferTTL: c.TransferTTL})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err = srv.Sync(ctx)
	cancel()
	if err != nil {
		// A refused mapping means this store is older than what the center
		// knows this cluster acknowledged: it is not the live store.
		return fmt.Errorf("bring the body store to the center's handle epoch: %w", err)
	}
	fmt.Fprintf(stdout, "conto vault cluster: %s serving %s (listening on %s, center %s, data %s)\n", c.Name, public, ln.Addr(), c.Center, c.Data)
	if printOnce != "" {
		fmt.Fprintf(stdout, "conto vault cluster: admin token (shown once; only its hash is kept): %s\n", printOnce)
	}
	return serveUntilSignal(ln, srv, log, func(ctx context.Context) {
		srv.Run(ctx, vaulthttp.ClusterSchedule{SyncEvery: c.SyncEvery, SettleEvery: c.SettleEvery})
	})
}

// announce tells the center where this cluster is, waiting up to a minute
// for a center that is still starting. Authentication and validation
// failures are final.
func announce(center *vaulthttp.CenterClient, public, adminEmail string, log *slog.Logger) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e, err := center.Hello(ctx, public, adminEmail)
		cancel()
		if err == nil {
			if !e.Enabled {
				log.Warn("the center has disabled this cluster")
			}
			return nil
		}
		if !errors.Is(err, vaulthttp.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			return fmt.Errorf("announce to the center at %s: %w", center.URL(), err)
		}
		log.Info("waiting for the center", "err", err)
		time.Sleep(500 * time.Millisecond)
	}
}

// vaultAdminCmd runs conto vault rotate|check|repair.
func vaultAdminCmd(what string, args []string, stdout, stderr io.Writer) int {
	name := "vault " + what
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	url := fs.String("url", "", "the center server's URL (required)")
	tokenFile := fs.String("admin-token-file", "", "file with the center's admin token (required)")
	timeout := fs.Duration("timeout", vaulthttp.AdminTimeout, "give up after this long")
	var flagUser, flagCluster *string
	if what == "enable" || what == "disable" {
		flagUser = fs.String("user", "", "the user whose valid flag to set")
		flagCluster = fs.String("cluster", "", "the cluster whose valid flag to set")
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return usageExit(name, err, stderr)
	}
	if flagUser != nil && (*flagUser == "") == (*flagCluster == "") {
		return usageExit(name, fmt.Errorf("%w: give exactly one of --user or --cluster", errUsage), stderr)
	}
	if *url == "" || *tokenFile == "" {
		return usageExit(name, fmt.Errorf("%w: --url and --admin-token-file are required", errUsage), stderr)
	}
	if *timeout <= 0 {
		return usageExit(name, fmt.Errorf("%w: --timeout must be positive", errUsage), stderr)
	}
	token, err := vaulthttp.ReadSecretFile(*tokenFile)
	if err != nil {
		return usageExit(name, fmt.Errorf("%w: --admin-token-file: %v", errUsage, err), stderr)
	}
	adm, err := vaulthttp.NewAdminClient(*url, token, nil)
	if err != nil {
		return usageExit(name, fmt.Errorf("%w: %v", errUsage, err), stderr)
	}
	adm.Timeout = *timeout
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "conto %s: %v\n", name, err)
		return 1
	}
	switch what {
	case "enable", "disable":
		req := vaulthttp.FlagsRequest{User: *flagUser, Cluster: *flagCluster, Enabled: what == "enable"}
		if err := adm.SetFlag(ctx, req); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%sd %s%s\n", what, req.User, req.Cluster)
		return 0
	case "rotate":
		res, err := adm.Rotate(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "rotated handles from epoch %d to %d; %d cluster(s) re-key on their next sync\n", res.From, res.To, len(res.Clusters))
		return 0
	case "check":
		res, err := adm.Check(ctx)
		if err != nil {
			return fail(err)
		}
		if !res.Tampered {
			fmt.Fprintf(stdout, "chain verified: %d blocks, no tampering\n", res.Verify.Blocks)
			return 0
		}
		fmt.Fprintf(stdout, "TAMPERED: block %d: %s\n", res.FirstBad.Index, res.FirstBad.Reason)
		if res.Froze != nil {
			fmt.Fprintf(stdout, "froze blocks %d..%d (%d item(s), clusters %s)\n", res.Froze.Range.From, res.Froze.Range.To-1,
				len(res.Froze.Items), strings.Join(res.Froze.Clusters, ", "))
		} else {
			fmt.Fprintln(stdout, "the block was frozen by an earlier check; run conto vault repair")
		}
		for _, a := range res.Alerts {
			status := "sent"
			if a.Error != "" {
				status = "NOT DELIVERED: " + a.Error
			}
			fmt.Fprintf(stdout, "alert to %s (%s): %s\n", a.To, a.Role, status)
		}
		fmt.Fprintf(stderr, "conto %s: tampering found in block %d\n", name, res.FirstBad.Index)
		return 1
	default:
		res, err := adm.Repair(ctx)
		if err != nil {
			return fail(err)
		}
		if len(res.Rebuilt) == 0 && len(res.Relinked) == 0 && len(res.Lost) == 0 {
			fmt.Fprintln(stdout, "nothing to repair: no block is frozen")
			return 0
		}
		fmt.Fprintf(stdout, "repaired from block %d: %d rebuilt (%d from the account book), %d relinked, %d lost; old chain kept as %s\n",
			res.From, len(res.Rebuilt), res.FromBook, len(res.Relinked), len(res.Lost), res.Evidence)
		if len(res.Lost) > 0 {
			for _, l := range res.Lost {
				fmt.Fprintf(stdout, "lost block %d: %s\n", l.Index, l.Reason)
			}
			fmt.Fprintf(stderr, "conto %s: %d block(s) could not be rebuilt\n", name, len(res.Lost))
			return 1
		}
		return 0
	}
}

// clientKV is the ledger book's KV over a conto node's HTTP API.
type clientKV struct{ c *contoclient.Client }

func (k clientKV) PutNew(ctx context.Context, key string, value []byte) (bool, error) {
	res, err := k.c.Txn(ctx, contoclient.Txn{Checks: []contoclient.Check{{Key: &key, Version: 0}},
		Puts: []contoclient.Put{{Key: key, Value: value}}})
	if err != nil {
		return false, err
	}
	return res.Status == "committed", nil
}

func (k clientKV) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, err := k.c.Get(ctx, key, 0)
	if errors.Is(err, contoclient.ErrNotFound) {
		return nil, false, nil
	}
	return v, err == nil, err
}
