package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RetryPolicy bounds Retrying.
type RetryPolicy struct {
	// Attempts is the most sends per message (default 5, 1..100).
	Attempts int
	// Backoff is the wait after the first failure (default 500ms); each
	// later wait doubles, up to MaxBackoff (default 30s).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

func (p *RetryPolicy) fill() error {
	if p.Attempts == 0 {
		p.Attempts = 5
	}
	if p.Backoff == 0 {
		p.Backoff = 500 * time.Millisecond
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 30 * time.Second
	}
	if p.Attempts < 1 || p.Attempts > 100 {
		return fmt.Errorf("%w: retry attempts %d outside 1..100", ErrInvalid, p.Attempts)
	}
	if p.Backoff < 0 || p.MaxBackoff < p.Backoff || p.MaxBackoff > time.Hour {
		return fmt.Errorf("%w: backoff %v / max %v (want 0 ≤ backoff ≤ max ≤ 1h)", ErrInvalid, p.Backoff, p.MaxBackoff)
	}
	return nil
}

// ErrGaveUp is wrapped by every GiveUpError.
var ErrGaveUp = errors.New("notification not delivered")

// GiveUpError reports a message Retrying could not deliver.
type GiveUpError struct {
	To       string
	Subject  string
	Attempts int   // sends tried
	Last     error // the last send's error
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("%v to %s after %d attempt(s): %v", ErrGaveUp, e.To, e.Attempts, e.Last)
}

// Unwrap exposes ErrGaveUp and the last error to errors.Is and errors.As.
func (e *GiveUpError) Unwrap() []error { return []error{ErrGaveUp, e.Last} }

// Retrying sends through another Notifier, retrying failures with
// exponential backoff. It gives up after the policy's attempts, at once on
// a Permanent error, or when the context ends, and reports it as a
// *GiveUpError. It is safe for concurrent use if the wrapped Notifier is.
type Retrying struct {
	next   Notifier
	policy RetryPolicy
	// OnGiveUp, if set, is called with every message given up on (before
	// Send returns), e.g. to log it or alert someone by another route.
	OnGiveUp func(*GiveUpError)
}

// NewRetrying wraps next.
func NewRetrying(next Notifier, p RetryPolicy) (*Retrying, error) {
	if next == nil {
		return nil, fmt.Errorf("%w: nil notifier", ErrInvalid)
	}
	if err := p.fill(); err != nil {
		return nil, err
	}
	return &Retrying{next: next, policy: p}, nil
}

// Send delivers the message or returns a *GiveUpError.
func (r *Retrying) Send(ctx context.Context, to, subject, body string) error {
	_, err := r.SendCount(ctx, to, subject, body)
	return err
}

// SendCount is Send that also reports how many attempts it made.
func (r *Retrying) SendCount(ctx context.Context, to, subject, body string) (int, error) {
	if err := Check(to, subject, body); err != nil {
		return 0, r.giveUp(to, subject, 0, err)
	}
	wait := r.policy.Backoff
	for attempt := 1; ; attempt++ {
		err := r.next.Send(ctx, to, subject, body)
		if err == nil {
			return attempt, nil
		}
		if IsPermanent(err) || attempt >= r.policy.Attempts || ctx.Err() != nil {
			return attempt, r.giveUp(to, subject, attempt, err)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return attempt, r.giveUp(to, subject, attempt, errors.Join(err, serr))
		}
		wait = min(2*wait, r.policy.MaxBackoff)
	}
}

func (r *Retrying) giveUp(to, subject string, attempts int, err error) error {
	g := &GiveUpError{To: to, Subject: subject, Attempts: attempts, Last: err}
	if r.OnGiveUp != nil {
		r.OnGiveUp(g)
	}
	return g
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
