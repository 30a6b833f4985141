package valuesplit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
	"github.com/conto-ledger/conto/engine/valuesplit/notify"
)

// MonitorConfig configures the monitoring bot.
type MonitorConfig struct {
	// Center is the center whose chain is watched (required).
	Center *Center
	// Notifier sends the alerts (required). The monitor wraps it in
	// notify.Retrying with Retry.
	Notifier notify.Notifier
	Retry    notify.RetryPolicy
	// Admins are the center administrators' addresses (at least one).
	Admins []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Monitor is the monitoring bot (claim 9, Fig. 20): it re-verifies the
// chain, and when it finds a tampered block not yet frozen it freezes that
// block and every later one and alerts the center's administrators, then
// the administrators of every cluster owning an affected item; an alert a
// cluster cannot receive is reported to the administrators in turn.
type Monitor struct {
	center *Center
	send   *notify.Retrying
	admins []string
	now    func() time.Time
	// unsent are alerts whose retries gave up; every later check sends
	// them again, until delivered (Fig. 20). Bounded by maxUnsent (the
	// oldest are dropped, and reported).
	mu     sync.Mutex
	unsent []pendingAlert
}

// pendingAlert is an alert not delivered yet.
type pendingAlert struct {
	to, role, subject, body string
}

const maxUnsent = 1024

// NewMonitor builds a monitor.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.Center == nil || cfg.Notifier == nil {
		return nil, fmt.Errorf("%w: monitor needs a center and a notifier", ErrInvalid)
	}
	if len(cfg.Admins) == 0 {
		return nil, fmt.Errorf("%w: monitor needs at least one administrator address", ErrInvalid)
	}
	for _, a := range cfg.Admins {
		if err := CheckEmail(a); err != nil {
			return nil, err
		}
	}
	r, err := notify.NewRetrying(cfg.Notifier, cfg.Retry)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Monitor{center: cfg.Center, send: r, admins: append([]string(nil), cfg.Admins...), now: cfg.Now}, nil
}

// Alert is one alert the monitor sent or tried to send.
type Alert struct {
	To       string `json:"to"`
	Role     string `json:"role"` // "admin" or "cluster <id>"
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// MonitorReport is the outcome of one check.
type MonitorReport struct {
	At     time.Time    `json:"at"`
	Verify chain.Report `json:"verify"`
	// FirstBad names the first tampered block (frozen before or now), nil
	// if the chain verified.
	FirstBad *chain.Problem `json:"first_bad,omitempty"`
	// Froze is set when this check froze blocks.
	Froze  *FreezeResult `json:"froze,omitempty"`
	Alerts []Alert       `json:"alerts,omitempty"`
}

// Tampered reports whether the chain holds a tampered block.
func (r *MonitorReport) Tampered() bool { return r.FirstBad != nil }

// Check runs one monitoring pass. A tampered block already frozen is
// reported but not alerted again. The error is about the pass itself
// (reading the chain, freezing); undelivered alerts are in the report.
func (m *Monitor) Check(ctx context.Context) (MonitorReport, error) {
	rep := MonitorReport{At: m.now().UTC()}
	rep.Alerts = m.resend(ctx)
	v, err := m.center.Verify(ctx)
	if err != nil {
		return rep, fmt.Errorf("monitor: %w", err)
	}
	rep.Verify, rep.FirstBad = v, v.FirstBad
	bad := v.FirstUnfrozenBad
	if bad == nil {
		return rep, nil
	}
	fr, err := m.center.Freeze(ctx, bad.Index)
	if err != nil {
		return rep, fmt.Errorf("monitor: freeze from block %d: %w", bad.Index, err)
	}
	rep.Froze = &fr
	rep.Alerts = append(rep.Alerts, m.alert(ctx, bad, &fr)...)
	return rep, nil
}

// resend tries again every alert not delivered yet.
func (m *Monitor) resend(ctx context.Context) []Alert {
	m.mu.Lock()
	todo := m.unsent
	m.unsent = nil
	m.mu.Unlock()
	var out []Alert
	for _, p := range todo {
		out = append(out, m.deliver(ctx, p.to, p.role, p.subject, p.body))
	}
	return out
}

// alert sends Fig. 20's mails: administrators first, then each affected
// cluster; failures to reach a cluster are reported to the
// administrators.
func (m *Monitor) alert(ctx context.Context, bad *chain.Problem, fr *FreezeResult) []Alert {
	subject := fmt.Sprintf("conto vault: tampering found in block %d; blocks %d..%d frozen", bad.Index, fr.Range.From, fr.Range.To-1)
	body := alertBody(bad, fr)
	var out []Alert
	for _, a := range m.admins {
		out = append(out, m.deliver(ctx, a, "admin", subject, body))
	}
	var failed []string
	for _, id := range fr.Clusters {
		info, err := m.center.Clusters().Get(id)
		if err != nil || info.AdminEmail == "" {
			failed = append(failed, fmt.Sprintf("cluster %s: no administrator address", id))
			continue
		}
		a := m.deliver(ctx, info.AdminEmail, "cluster "+id, subject, body)
		out = append(out, a)
		if a.Error != "" {
			failed = append(failed, fmt.Sprintf("cluster %s (%s): %s", id, info.AdminEmail, a.Error))
		}
	}
	if len(failed) > 0 {
		msg := "These clusters could not be alerted:\n\n" + strings.Join(failed, "\n") + "\n\n" + body
		for _, a := range m.admins {
			out = append(out, m.deliver(ctx, a, "admin", "conto vault: tamper alert not delivered to clusters", msg))
		}
	}
	return out
}

func (m *Monitor) deliver(ctx context.Context, to, role, subject, body string) Alert {
	n, err := m.send.SendCount(ctx, to, subject, body)
	a := Alert{To: to, Role: role, Attempts: n}
	var g *notify.GiveUpError
	if errors.As(err, &g) {
		a.Attempts = g.Attempts
	}
	if err != nil {
		a.Error = err.Error()
		if !notify.IsPermanent(err) {
			m.keepUnsent(pendingAlert{to, role, subject, body})
		}
	}
	return a
}

func (m *Monitor) keepUnsent(p pendingAlert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.unsent) == maxUnsent {
		m.unsent = m.unsent[1:]
	}
	m.unsent = append(m.unsent, p)
}

func alertBody(bad *chain.Problem, fr *FreezeResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The monitor found block %d tampered: %s.\n", bad.Index, bad.Reason)
	fmt.Fprintf(&b, "Blocks %d to %d are frozen until the repair bot rebuilds them from the account book.\n", fr.Range.From, fr.Range.To-1)
	if fr.Range.From > 0 {
		fmt.Fprintf(&b, "New registrations continue on a branch from block %d.\n", fr.Range.From-1)
	} else {
		b.WriteString("Every block is frozen: new registrations start a new branch.\n")
	}
	fmt.Fprintf(&b, "Items affected: %d. Clusters affected: %s.\n", len(fr.Items), strings.Join(fr.Clusters, ", "))
	if fr.BookError != "" {
		fmt.Fprintf(&b, "The account book could not be read (%s): every item is held until repair.\n", fr.BookError)
	}
	return b.String()
}

// Run checks every interval until ctx ends, passing each report (or error)
// to report. It returns ctx's error.
func (m *Monitor) Run(ctx context.Context, every time.Duration, report func(MonitorReport, error)) error {
	if every < time.Second {
		return fmt.Errorf("%w: monitor interval %v under 1s", ErrInvalid, every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rep, err := m.Check(ctx)
		if report != nil {
			report(rep, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
