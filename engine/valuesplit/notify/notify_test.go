package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/notify"
	"github.com/conto-ledger/conto/engine/valuesplit/smtptest"
)

var bg = context.Background()

var fast = notify.RetryPolicy{Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

func sink(t *testing.T) *smtptest.Sink {
	t.Helper()
	s, err := smtptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSMTPDelivers(t *testing.T) {
	s := sink(t)
	n := &notify.SMTP{Addr: s.Addr(), From: "vault@example.com", Timeout: 5 * time.Second}
	body := "line one\n.line starting with a dot\n\nlast"
	if err := n.Send(bg, "bob@example.com", "Grüße: block 3 frozen", body); err != nil {
		t.Fatal(err)
	}
	msgs := s.To("bob@example.com")
	if len(msgs) != 1 || msgs[0].From != "vault@example.com" {
		t.Fatalf("messages: %+v", s.Messages())
	}
	d := msgs[0].Data
	for _, want := range []string{
		"To: bob@example.com\r\n", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe:_block_3_frozen?=\r\n",
		"\r\n\r\nline one\r\n.line starting with a dot\r\n\r\nlast\r\n", "Content-Type: text/plain; charset=utf-8",
	} {
		if !strings.Contains(d, want) {
			t.Fatalf("message lacks %q:\n%s", want, d)
		}
	}
}

func TestSMTPRejectsInjection(t *testing.T) {
	s := sink(t)
	n := &notify.SMTP{Addr: s.Addr(), From: "vault@example.com"}
	for _, tc := range [][2]string{
		{"bob@example.com\r\nRCPT TO:<eve@example.com>", "s"},
		{"bob@example.com", "subject\r\nBcc: eve@example.com"},
	} {
		err := n.Send(bg, tc[0], tc[1], "b")
		if !errors.Is(err, notify.ErrInvalid) || !notify.IsPermanent(err) {
			t.Fatalf("%q: %v", tc, err)
		}
	}
	if len(s.Messages()) != 0 {
		t.Fatal("injected message delivered")
	}
}

func TestSMTPErrorsClassified(t *testing.T) {
	s := sink(t)
	n := &notify.SMTP{Addr: s.Addr(), From: "vault@example.com"}
	s.FailNext(1, "451 busy")
	if err := n.Send(bg, "a@example.com", "s", "b"); err == nil || notify.IsPermanent(err) {
		t.Fatalf("4xx: %v", err)
	}
	s.FailNext(1, "550 no such user")
	if err := n.Send(bg, "a@example.com", "s", "b"); !notify.IsPermanent(err) {
		t.Fatalf("5xx: %v", err)
	}
	// Nothing listening: a transient error.
	dead := &notify.SMTP{Addr: "127.0.0.1:1", From: "vault@example.com", Timeout: time.Second}
	if err := dead.Send(bg, "a@example.com", "s", "b"); err == nil || notify.IsPermanent(err) {
		t.Fatalf("refused connection: %v", err)
	}
}

func TestRetryingRecoversFromTransientSMTP(t *testing.T) {
	s := sink(t)
	r, err := notify.NewRetrying(&notify.SMTP{Addr: s.Addr(), From: "vault@example.com"}, fast)
	if err != nil {
		t.Fatal(err)
	}
	s.FailNext(3, "421 try later")
	n, err := r.SendCount(bg, "a@example.com", "s", "b")
	if err != nil || n != 4 || len(s.Messages()) != 1 {
		t.Fatalf("attempts %d, err %v, %d delivered", n, err, len(s.Messages()))
	}
}

func TestRetryingGivesUp(t *testing.T) {
	var calls atomic.Int32
	failing := notify.Func(func(context.Context, string, string, string) error {
		calls.Add(1)
		return errors.New("connection reset")
	})
	var reported *notify.GiveUpError
	r, err := notify.NewRetrying(failing, fast)
	if err != nil {
		t.Fatal(err)
	}
	r.OnGiveUp = func(g *notify.GiveUpError) { reported = g }
	err = r.Send(bg, "a@example.com", "s", "b")
	var g *notify.GiveUpError
	if !errors.As(err, &g) || !errors.Is(err, notify.ErrGaveUp) || g.Attempts != 4 || calls.Load() != 4 {
		t.Fatalf("err %v, calls %d", err, calls.Load())
	}
	if reported == nil || reported.To != "a@example.com" {
		t.Fatal("OnGiveUp not called")
	}
	// A permanent error stops at once.
	calls.Store(0)
	perm := notify.Func(func(context.Context, string, string, string) error {
		calls.Add(1)
		return notify.Permanent(errors.New("no such mailbox"))
	})
	r2, _ := notify.NewRetrying(perm, fast)
	if err := r2.Send(bg, "a@example.com", "s", "b"); !errors.Is(err, notify.ErrGaveUp) || calls.Load() != 1 {
		t.Fatalf("permanent: %v after %d calls", err, calls.Load())
	}
	// A cancelled context stops the waiting.
	slow, _ := notify.NewRetrying(failing, notify.RetryPolicy{Attempts: 100, Backoff: time.Hour, MaxBackoff: time.Hour})
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := slow.Send(ctx, "a@example.com", "s", "b"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := notify.NewRetrying(failing, notify.RetryPolicy{Attempts: 1000}); !errors.Is(err, notify.ErrInvalid) {
		t.Fatalf("unbounded policy accepted: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	var hits atomic.Int32
	var got map[string]string
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Method != http.MethodPost {
			w.WriteHeader(401)
			return
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	wh := &notify.Webhook{URL: srv.URL, Header: http.Header{"Authorization": {"Bearer s3cret"}}}
	if err := wh.Send(bg, "ops@example.com", "subject", "body"); err != nil {
		t.Fatal(err)
	}
	if got["to"] != "ops@example.com" || got["subject"] != "subject" || got["body"] != "body" {
		t.Fatalf("payload %v", got)
	}
	status.Store(503)
	r, _ := notify.NewRetrying(wh, fast)
	hits.Store(0)
	if err := r.Send(bg, "ops@example.com", "s", "b"); !errors.Is(err, notify.ErrGaveUp) || hits.Load() != 4 {
		t.Fatalf("5xx: %v after %d hits", err, hits.Load())
	}
	status.Store(400)
	hits.Store(0)
	if err := r.Send(bg, "ops@example.com", "s", "b"); !errors.Is(err, notify.ErrGaveUp) || hits.Load() != 1 {
		t.Fatalf("4xx: %v after %d hits", err, hits.Load())
	}
}

func TestLog(t *testing.T) {
	var buf strings.Builder
	l := &notify.Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	if err := l.Send(bg, "a@example.com", "hello", "world"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "subject=hello") {
		t.Fatalf("log: %s", buf.String())
	}
}
