package vaulthttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// Errors of the transport itself. Library errors cross the wire as codes
// and come back as the library's sentinels (see RemoteError).
var (
	// ErrUnavailable reports a server that could not be reached or did not
	// answer properly (network error, timeout, a proxy's 5xx page).
	ErrUnavailable = errors.New("server unavailable")
	// ErrUnauthorized reports a missing or wrong key or token (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden reports a request naming a cluster other than the one
	// its key belongs to (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrInternal reports a server-side failure with no better code.
	ErrInternal = errors.New("internal server error")
)

// errorKind maps one sentinel to its wire status and code. The table is
// searched in order, so an error wrapping several sentinels (errors.Join)
// gets the first listed.
type errorKind struct {
	err    error
	status int
	code   string
}

var errorKinds = []errorKind{
	{vs.ErrStaleEpoch, http.StatusConflict, "stale_epoch"},
	{vs.ErrUnknownHandle, http.StatusNotFound, "unknown_handle"},
	{vs.ErrRefused, http.StatusForbidden, "refused"},
	{vs.ErrLagging, http.StatusConflict, "lagging"},
	{vs.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{vs.ErrDisabled, http.StatusForbidden, "disabled"},
	{vs.ErrFrozen, http.StatusServiceUnavailable, "frozen"},
	{vs.ErrLocked, http.StatusLocked, "locked"},
	{vs.ErrExpired, http.StatusGone, "expired"},
	{vs.ErrConflict, http.StatusConflict, "conflict"},
	{vs.ErrExists, http.StatusConflict, "exists"},
	{vs.ErrNotFound, http.StatusNotFound, "not_found"},
	{vs.ErrDecrypt, http.StatusInternalServerError, "decrypt_failed"},
	{vs.ErrTampered, http.StatusInternalServerError, "tampered"},
	{vs.ErrClosed, http.StatusServiceUnavailable, "closed"},
	{vs.ErrInvalid, http.StatusBadRequest, "invalid"},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{ErrForbidden, http.StatusForbidden, "forbidden"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{context.Canceled, http.StatusServiceUnavailable, "canceled"},
}

// classify returns the wire status and code of err.
func classify(err error) (int, string) {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.status, k.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// sentinelOf returns the sentinel a wire code stands for.
func sentinelOf(code string) error {
	for _, k := range errorKinds {
		if k.code == code {
			if k.err == context.DeadlineExceeded || k.err == context.Canceled {
				return ErrUnavailable // the server's deadline, not the caller's
			}
			return k.err
		}
	}
	return ErrInternal
}

// errorBody is the error shape of every endpoint (SPEC §3):
// {"error":{"code","message"}}. A stale epoch also carries the epochs.
type errorBody struct {
	Error wireError `json:"error"`
}

type wireError struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Got     *vs.Epoch `json:"got,omitempty"`
	Current *vs.Epoch `json:"current,omitempty"`
}

// writeError answers with the error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeErrorBody(w, status, wireError{Code: code, Message: msg})
}

func writeErrorBody(w http.ResponseWriter, status int, e wireError) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="conto-vault"`)
	}
	writeJSON(w, status, errorBody{Error: e})
}

// wireErrorOf builds the wire form of a library error for a trusted peer
// (the center's and the peer endpoint's callers): the message is passed on.
func wireErrorOf(err error) (int, wireError) {
	status, code := classify(err)
	e := wireError{Code: code, Message: err.Error()}
	var se *vs.StaleEpochError
	if errors.As(err, &se) {
		got, cur := se.Got, se.Current
		e.Got, e.Current = &got, &cur
	}
	return status, e
}

// RemoteError is an error answered by a vault server. It unwraps to the
// library sentinel its code names (and to *valuesplit.StaleEpochError for
// a stale epoch), so callers use errors.Is and errors.As as if they had
// called the library directly.
type RemoteError struct {
	Status  int
	Code    string
	Message string
	err     error
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return e.Message
}

// Unwrap returns the sentinel.
func (e *RemoteError) Unwrap() error { return e.err }

// decodeRemoteError turns an error answer into a *RemoteError.
func decodeRemoteError(status int, body []byte) error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
		re := &RemoteError{Status: status, Code: "http_error", Message: fmt.Sprintf("HTTP %d: %s", status, clip(string(body)))}
		switch {
		case status == http.StatusUnauthorized:
			re.err = ErrUnauthorized
		case status >= 500:
			re.err = ErrUnavailable
		default:
			re.err = ErrInternal
		}
		return re
	}
	re := &RemoteError{Status: status, Code: eb.Error.Code, Message: eb.Error.Message, err: sentinelOf(eb.Error.Code)}
	if eb.Error.Code == "stale_epoch" && eb.Error.Current != nil {
		got := vs.Epoch(0)
		if eb.Error.Got != nil {
			got = *eb.Error.Got
		}
		re.err = &vs.StaleEpochError{Got: got, Current: *eb.Error.Current}
	}
	return re
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
