// Package notify delivers the valuesplit module's messages: transfer
// notices to recipients (Figs. 9, 10) and tamper alerts to administrators
// (Fig. 20). A Notifier sends one message; Retrying wraps any Notifier
// with bounded retries (Fig. 20's "send again until it succeeds", with a
// limit); SMTP, Webhook and Log are the transports.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Notifier sends one plain-text message to one recipient.
type Notifier interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Func adapts a function to Notifier.
type Func func(ctx context.Context, to, subject, body string) error

// Send calls f.
func (f Func) Send(ctx context.Context, to, subject, body string) error {
	return f(ctx, to, subject, body)
}

// Message limits.
const (
	MaxRecipientLen = 254
	MaxSubjectLen   = 256
	MaxBodyLen      = 1 << 20
)

// ErrInvalid reports a message outside the limits. It is permanent.
var ErrInvalid = errors.New("invalid message")

// Check validates a message. Recipient and subject may not hold line
// breaks: they end up in SMTP commands and headers, where a line break
// would let a value inject commands or headers.
func Check(to, subject, body string) error {
	if to == "" || len(to) > MaxRecipientLen || strings.ContainsAny(to, "\r\n<> ,;") {
		return Permanent(fmt.Errorf("%w: recipient %q", ErrInvalid, clip(to)))
	}
	if len(subject) > MaxSubjectLen || strings.ContainsAny(subject, "\r\n") {
		return Permanent(fmt.Errorf("%w: subject must be ≤ %d bytes on one line", ErrInvalid, MaxSubjectLen))
	}
	if len(body) > MaxBodyLen {
		return Permanent(fmt.Errorf("%w: body is %d bytes, limit %d", ErrInvalid, len(body), MaxBodyLen))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// permanent marks an error retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as permanent: Retrying gives up at once.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
