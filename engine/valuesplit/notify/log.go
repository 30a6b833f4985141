package notify

import (
	"context"
	"log/slog"
)

// Log "sends" by logging the message at Info level: for development, and
// as a last resort next to a real transport.
type Log struct {
	Logger *slog.Logger // default slog.Default()
}

// Send logs the message.
func (l *Log) Send(ctx context.Context, to, subject, body string) error {
	if err := Check(to, subject, body); err != nil {
		return err
	}
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.InfoContext(ctx, "notification", "to", to, "subject", subject, "body", body)
	return nil
}
