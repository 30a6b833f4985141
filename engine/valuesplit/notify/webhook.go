package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Webhook POSTs each message as JSON {"to","subject","body"} to a URL.
// 2xx is delivered; 408, 429 and 5xx are retryable; other statuses are
// permanent.
type Webhook struct {
	URL string
	// Client defaults to one with a 30s timeout.
	Client *http.Client
	// Header is added to every request (e.g. Authorization).
	Header http.Header
}

// Send posts one message.
func (w *Webhook) Send(ctx context.Context, to, subject, body string) error {
	if err := Check(to, subject, body); err != nil {
		return err
	}
	payload, err := json.Marshal(map[string]string{"to": to, "subject": subject, "body": body})
	if err != nil {
		return Permanent(fmt.Errorf("encode webhook message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(payload))
	if err != nil {
		return Permanent(fmt.Errorf("%w: webhook URL: %v", ErrInvalid, err))
	}
	for k, vs := range w.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return Permanent(fmt.Errorf("webhook answered %s", resp.Status))
	}
}
