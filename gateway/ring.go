package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/shm"
	"github.com/valyala/fasthttp"
)

// The shared-memory hand-off between an HTTP front and the data service
// (the seed's proxy passing a shared-memory channel between modules). The
// front (conto gateway) parses HTTP and forwards each request whole, in
// HTTP/1.1 wire form, as one ring frame; the data service serves it with
// the same handler as its own HTTP port (coalescing, auth, metrics) and
// sends the response back in a frame with the same id.

// RingCapacity is each direction's ring size: frames may be half of it, and
// a request body may be MaxBodySize (8 MiB) plus headers.
const RingCapacity = 32 << 20

const (
	ringServeConcurrency = 1024 // requests being served at once per front
	ringIOTimeout        = 30 * time.Second
)

// ServeRings accepts fronts on l and serves their requests until l closes.
func (s *Server) ServeRings(l *shm.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go s.serveRing(c)
	}
}

// serveRing serves one front: batch frames (a front's batchers, see
// handoff.go) commit through the engine; any other frame is a whole HTTP
// request, served by the same handler as the HTTP port.
func (s *Server) serveRing(c *shm.Conn) {
	serveFrames(c, s.cfg.Logger, func(req []byte) []byte {
		if len(req) > 0 && req[0] == frameBatch {
			ctx, cancel := s.timeout()
			defer cancel()
			return serveBatch(ctx, s.cfg.Engine, req)
		}
		return s.serveFrame(req)
	})
}

// ServeEngineRing serves batch frames on c with the engine until c closes:
// the engine side of an in-process hand-off (InProcessHandoff).
func ServeEngineRing(c *shm.Conn, eng *engine.Engine, log *slog.Logger) {
	serveFrames(c, log, func(req []byte) []byte {
		if len(req) == 0 || req[0] != frameBatch {
			return errorAnswer(answerOther, errors.New("only batch frames are served on this ring"))
		}
		ctx, cancel := context.WithTimeout(context.Background(), handoffIO)
		defer cancel()
		return serveBatch(ctx, eng, req)
	})
}

// serveFrames reads frames from c; each is served on its own goroutine
// (bounded), and answers share the one send side.
func serveFrames(c *shm.Conn, log *slog.Logger, serve func([]byte) []byte) {
	defer c.Close()
	var (
		sendMu sync.Mutex
		sem    = make(chan struct{}, ringServeConcurrency)
		wg     sync.WaitGroup
		buf    []byte
	)
	defer wg.Wait()
	for {
		id, frame, err := c.Recv(buf, time.Hour)
		if errors.Is(err, shm.ErrTimeout) {
			continue
		}
		if err != nil {
			log.Info("ring peer disconnected", "err", err)
			return
		}
		req := append([]byte(nil), frame...) // buf is reused by the next Recv
		buf = frame
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			answer := serve(req)
			sendMu.Lock()
			err := c.Send(id, answer, ringIOTimeout)
			sendMu.Unlock()
			if err != nil && !shm.IsPeerGone(err) {
				log.Warn("ring answer failed", "err", err)
			}
		}()
	}
}

var ringRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

// serveFrame runs one forwarded request through the HTTP handler and
// returns the response in wire form.
func (s *Server) serveFrame(frame []byte) []byte {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(bytes.NewReader(frame))); err != nil {
		ctx.Init(&req, ringRemote, nil)
		writeError(&ctx, 400, "bad_request", "malformed forwarded request")
	} else {
		ctx.Init(&req, ringRemote, nil)
		s.handle(&ctx)
	}
	var out bytes.Buffer
	ctx.Response.WriteTo(&out)
	return out.Bytes()
}

// Front is an HTTP server in its own process whose requests are served by
// a data service over shared-memory rings.
type Front struct {
	path   string
	log    *slog.Logger
	srv    *fasthttp.Server
	mu     sync.Mutex // guards conn, waiters, next and sending
	conn   *shm.Conn
	next   uint64
	wait   map[uint64]chan []byte
	stop   chan struct{}
	sendMu sync.Mutex
}

// NewFront returns a front for the data service listening on the unix
// socket path. It connects (and reconnects) in the background.
func NewFront(path string, log *slog.Logger, maxBody int) *Front {
	f := &Front{path: path, log: log, wait: map[uint64]chan []byte{}, stop: make(chan struct{})}
	if maxBody <= 0 {
		maxBody = 8 << 20
	}
	f.srv = &fasthttp.Server{Handler: f.handle, Name: "conto-gateway", MaxRequestBodySize: maxBody,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		Logger: fasthttpLogger{log}}
	go f.connectLoop()
	return f
}

// Serve serves HTTP on ln until Shutdown.
func (f *Front) Serve(ln net.Listener) error { return f.srv.Serve(ln) }

// Shutdown stops the front.
func (f *Front) Shutdown() error {
	close(f.stop)
	err := f.srv.Shutdown()
	f.mu.Lock()
	if f.conn != nil {
		f.conn.Close()
	}
	f.mu.Unlock()
	return err
}

// Connected reports whether the front currently has a data service.
func (f *Front) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn != nil
}

// connectLoop dials the data service, reads answers until it goes away,
// fails the requests in flight, and dials again.
func (f *Front) connectLoop() {
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		c, err := shm.Dial(f.path, 2*time.Second)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		f.log.Info("connected to the data service", "socket", f.path)
		f.mu.Lock()
		f.conn = c
		f.mu.Unlock()
		f.readAnswers(c)
		f.mu.Lock()
		f.conn = nil
		for id, ch := range f.wait {
			close(ch) // the engine is gone: outcome unknown
			delete(f.wait, id)
		}
		f.mu.Unlock()
		c.Close()
		f.log.Warn("lost the data service; reconnecting", "socket", f.path)
	}
}

func (f *Front) readAnswers(c *shm.Conn) {
	var buf []byte
	for {
		id, frame, err := c.Recv(buf, time.Hour)
		if errors.Is(err, shm.ErrTimeout) {
			continue
		}
		if err != nil {
			return
		}
		answer := append([]byte(nil), frame...)
		buf = frame
		f.mu.Lock()
		ch := f.wait[id]
		delete(f.wait, id)
		f.mu.Unlock()
		if ch != nil {
			ch <- answer
		}
	}
}

// handle forwards one request and writes back the data service's answer.
func (f *Front) handle(ctx *fasthttp.RequestCtx) {
	var req bytes.Buffer
	ctx.Request.WriteTo(&req)
	f.mu.Lock()
	c := f.conn
	f.next++
	id := f.next
	ch := make(chan []byte, 1)
	if c != nil {
		f.wait[id] = ch
	}
	f.mu.Unlock()
	if c == nil {
		writeError(ctx, 503, "engine_unavailable", "the data service is not connected; nothing was applied")
		return
	}
	f.sendMu.Lock()
	err := c.Send(id, req.Bytes(), ringIOTimeout)
	f.sendMu.Unlock()
	if err != nil {
		f.mu.Lock()
		delete(f.wait, id)
		f.mu.Unlock()
		writeError(ctx, 503, "engine_unavailable", "could not hand the request to the data service; nothing was applied")
		return
	}
	select {
	case answer, ok := <-ch:
		if ok && ctx.Response.Read(bufio.NewReader(bytes.NewReader(answer))) == nil {
			return
		}
	case <-time.After(ringIOTimeout):
		f.mu.Lock()
		delete(f.wait, id)
		f.mu.Unlock()
	}
	ctx.Response.Reset()
	writeJSON(ctx, 503, map[string]any{"outcome": "unknown", "error": map[string]string{
		"code": "outcome_unknown", "message": "the data service went away while serving the request; retry with the same ids"}})
}
