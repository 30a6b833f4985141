package transactor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Mux shares one TCP listener (the node's --raft address) among the Raft
// groups of its partitions. Every connection starts with a two-byte preface,
// 'R' and the partition number, and is handed to that partition's transport.
// One address per node keeps cluster configuration simple whatever the
// number of partitions.
type Mux struct {
	ln  net.Listener
	log *slog.Logger

	mu       sync.Mutex
	layers   map[uint8]*muxLayer
	handlers map[byte]func(conn net.Conn, arg byte)
	closed   bool
	wg       sync.WaitGroup
}

const (
	prefaceRaft     = 'R'
	prefaceTimeout  = 5 * time.Second
	acceptQueueSize = 16
)

// ErrMuxClosed is returned by a closed mux layer.
var ErrMuxClosed = errors.New("transactor: mux closed")

// Listen starts a mux on addr ("127.0.0.1:7071").
func Listen(addr string, log *slog.Logger) (*Mux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transactor: listen for raft on %s: %w", addr, err)
	}
	m := &Mux{ln: ln, log: log, layers: map[uint8]*muxLayer{}, handlers: map[byte]func(net.Conn, byte){}}
	m.wg.Add(1)
	go m.serve()
	return m, nil
}

// Addr is the listening address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Layer returns the stream layer of one partition, for raft.NewNetworkTransport.
func (m *Mux) Layer(partition uint8) raft.StreamLayer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.layers[partition]; ok {
		return l
	}
	l := &muxLayer{mux: m, id: partition, accept: make(chan net.Conn, acceptQueueSize), done: make(chan struct{})}
	m.layers[partition] = l
	return l
}

// Handle routes connections whose preface starts with kind to h, which gets
// the preface's second byte and owns the connection.
func (m *Mux) Handle(kind byte, h func(conn net.Conn, arg byte)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[kind] = h
}

// Close stops accepting and closes every layer.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, l := range m.layers {
		l.closeOnce.Do(func() { close(l.done) })
	}
	m.mu.Unlock()
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

func (m *Mux) serve() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			return // closed
		}
		m.wg.Add(1)
		go m.route(conn)
	}
}

// route reads the preface and hands the connection to its layer. A peer
// that sends garbage or nothing is dropped after prefaceTimeout.
func (m *Mux) route(conn net.Conn) {
	defer m.wg.Done()
	var p [2]byte
	conn.SetReadDeadline(time.Now().Add(prefaceTimeout))
	_, err := io.ReadFull(conn, p[:])
	m.mu.Lock()
	h := m.handlers[p[0]]
	l, ok := m.layers[p[1]]
	m.mu.Unlock()
	if err == nil && h != nil {
		conn.SetReadDeadline(time.Time{})
		h(conn, p[1])
		return
	}
	if err != nil || p[0] != prefaceRaft {
		m.log.Warn("raft mux: dropping connection with a bad preface", "remote", conn.RemoteAddr(), "preface", p)
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	if !ok {
		m.log.Warn("raft mux: connection for an unknown partition", "remote", conn.RemoteAddr(), "partition", p[1])
		conn.Close()
		return
	}
	select {
	case l.accept <- conn:
	case <-l.done:
		conn.Close()
	}
}

// muxLayer is one partition's raft.StreamLayer over the shared listener.
type muxLayer struct {
	mux       *Mux
	id        uint8
	accept    chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, ErrMuxClosed
	}
}

func (l *muxLayer) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *muxLayer) Addr() net.Addr { return l.mux.Addr() }

func (l *muxLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte{prefaceRaft, l.id}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}
