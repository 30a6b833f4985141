package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// SMTP sends mail through an SMTP server with net/smtp.
type SMTP struct {
	// Addr is the server, host:port.
	Addr string
	// From is the envelope and header sender.
	From string
	// Auth, if set, authenticates after STARTTLS (net/smtp's PlainAuth
	// refuses to send credentials unencrypted except to localhost).
	Auth smtp.Auth
	// TLS configures STARTTLS, used whenever the server offers it (default:
	// verify the server as the host of Addr). RequireTLS refuses servers
	// that do not offer it.
	TLS        *tls.Config
	RequireTLS bool
	// HelloName is sent in EHLO (default "localhost").
	HelloName string
	// Timeout bounds a whole delivery when the context has no deadline
	// (default 30s).
	Timeout time.Duration
}

// Send delivers one message. Replies 5xx are permanent errors.
func (s *SMTP) Send(ctx context.Context, to, subject, body string) error {
	if err := Check(to, subject, body); err != nil {
		return err
	}
	if err := Check(s.From, "", ""); err != nil {
		return Permanent(fmt.Errorf("%w: sender %q", ErrInvalid, clip(s.From)))
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return Permanent(fmt.Errorf("%w: SMTP address %q: %v", ErrInvalid, s.Addr, err))
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", s.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return classify("smtp greeting", err)
	}
	defer c.Close()
	return s.session(c, host, to, subject, body)
}

func (s *SMTP) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	t := s.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

// session runs EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA and QUIT.
func (s *SMTP) session(c *smtp.Client, host, to, subject, body string) error {
	hello := s.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return classify("smtp EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return classify("smtp STARTTLS", err)
		}
	} else if s.RequireTLS {
		return Permanent(fmt.Errorf("smtp server %s does not offer STARTTLS", s.Addr))
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			return classify("smtp AUTH", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return classify("smtp MAIL", err)
	}
	if err := c.Rcpt(to); err != nil {
		return classify("smtp RCPT", err)
	}
	w, err := c.Data()
	if err != nil {
		return classify("smtp DATA", err)
	}
	if _, err := w.Write(s.message(to, subject, body)); err != nil {
		return classify("smtp message", err)
	}
	if err := w.Close(); err != nil {
		return classify("smtp end of data", err)
	}
	// The message was accepted at the end of DATA: a failed QUIT does not
	// undo that, and reporting it would make Retrying send a second copy.
	c.Quit()
	return nil
}

// message renders headers and body with CRLF line ends. Non-ASCII subjects
// are RFC 2047 encoded; the body is UTF-8, 8bit.
func (s *SMTP) message(to, subject, body string) []byte {
	var b strings.Builder
	id := make([]byte, 12)
	rand.Read(id)
	fmt.Fprintf(&b, "From: %s\r\n", s.From)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@conto-valuesplit>\r\n", hex.EncodeToString(id))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// classify wraps an SMTP error, marking 5xx replies permanent.
func classify(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(fmt.Errorf("%s: %w", step, err))
	}
	return fmt.Errorf("%s: %w", step, err)
}
