package shm

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultCapacity is the data size of each direction's ring.
const DefaultCapacity = 4 << 20

const hello = "conto-shm-1"

// Conn is one end of a channel between two processes: a ring for each
// direction in shared memory, and the unix socket the rings' file
// descriptors were handed over, which stays open so that each side learns
// at once when the other dies (the socket reads EOF).
//
// Send and Recv may each be used by one goroutine at a time (each ring has
// one producer and one consumer).
type Conn struct {
	send, recv *ring
	maps       [][]byte
	sock       *net.UnixConn
	peerGone   atomic.Bool
	// use is held (shared) by every operation on the mapped memory and
	// taken exclusively by Close before it unmaps.
	use    sync.RWMutex
	closed bool
}

// Listener accepts channels on a unix socket path.
type Listener struct {
	ln       *net.UnixListener
	capacity int
}

// Listen listens on a unix socket path (removing a stale socket file).
func Listen(path string, capacity int) (*Listener, error) {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if capacity&(capacity-1) != 0 || capacity < 8192 {
		return nil, fmt.Errorf("shm: capacity %d must be a power of two ≥ 8192", capacity)
	}
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("shm: listen %s: %w", path, err)
	}
	return &Listener{ln: ln, capacity: capacity}, nil
}

// Close stops listening.
func (l *Listener) Close() error { return l.ln.Close() }

// Accept waits for a peer, creates the two rings and hands them over.
func (l *Listener) Accept() (*Conn, error) {
	sock, err := l.ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	c, err := l.handOver(sock)
	if err != nil {
		sock.Close()
		return nil, err
	}
	return c, nil
}

func (l *Listener) handOver(sock *net.UnixConn) (*Conn, error) {
	size := headerSize + l.capacity
	var fds []int
	var maps [][]byte
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for i := 0; i < 2; i++ {
		fd, err := unix.MemfdCreate("conto-ring", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("shm: memfd: %w", err)
		}
		fds = append(fds, fd)
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			return nil, fmt.Errorf("shm: size ring: %w", err)
		}
		mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("shm: mmap: %w", err)
		}
		initRing(mem)
		maps = append(maps, mem)
	}
	if _, _, err := sock.WriteMsgUnix([]byte(hello), unix.UnixRights(fds...), nil); err != nil {
		unmapAll(maps)
		return nil, fmt.Errorf("shm: hand over rings: %w", err)
	}
	// The accepting side sends on ring 0 and receives on ring 1.
	return newConn(sock, maps, 0)
}

// Dial connects to a listener and maps the rings it hands over.
func Dial(path string, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("shm: dial %s: %w", path, err)
	}
	sock := nc.(*net.UnixConn)
	sock.SetReadDeadline(time.Now().Add(timeout))
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := sock.ReadMsgUnix(buf, oob)
	sock.SetReadDeadline(time.Time{})
	if err != nil || string(buf[:n]) != hello {
		sock.Close()
		return nil, fmt.Errorf("shm: handshake with %s failed: %v", path, err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil || len(fds) != 2 {
		sock.Close()
		return nil, fmt.Errorf("shm: expected 2 ring descriptors: %v", err)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var maps [][]byte
	for _, fd := range fds {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unmapAll(maps)
			sock.Close()
			return nil, err
		}
		mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			unmapAll(maps)
			sock.Close()
			return nil, fmt.Errorf("shm: mmap: %w", err)
		}
		maps = append(maps, mem)
	}
	c, err := newConn(sock, maps, 1)
	if err != nil {
		sock.Close()
	}
	return c, err
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func newConn(sock *net.UnixConn, maps [][]byte, sendIdx int) (*Conn, error) {
	c := &Conn{sock: sock, maps: maps}
	var err error
	if c.send, err = openRing(maps[sendIdx], &c.peerGone); err != nil {
		unmapAll(maps)
		return nil, err
	}
	if c.recv, err = openRing(maps[1-sendIdx], &c.peerGone); err != nil {
		unmapAll(maps)
		return nil, err
	}
	go c.watch()
	return c, nil
}

// watch waits for the peer's end of the socket to close: a peer that dies
// (even by SIGKILL) closes it, and every waiter wakes with ErrPeerGone.
func (c *Conn) watch() {
	var b [1]byte
	for {
		if _, err := c.sock.Read(b[:]); err != nil {
			c.peerGone.Store(true)
			c.use.RLock()
			if !c.closed {
				c.send.wakeAll()
				c.recv.wakeAll()
			}
			c.use.RUnlock()
			return
		}
	}
}

// Send writes one frame, waiting up to timeout for space.
func (c *Conn) Send(id uint64, payload []byte, timeout time.Duration) error {
	c.use.RLock()
	defer c.use.RUnlock()
	if c.closed {
		return ErrClosed
	}
	return c.send.write(id, payload, timeout)
}

// Recv reads the next frame, waiting up to timeout. The payload is copied
// into buf's storage and returned.
func (c *Conn) Recv(buf []byte, timeout time.Duration) (uint64, []byte, error) {
	c.use.RLock()
	defer c.use.RUnlock()
	if c.closed {
		return 0, nil, ErrClosed
	}
	return c.recv.read(buf, timeout)
}

// Close marks both rings closed (the peer's waiters return ErrClosed),
// waits for this side's operations to return, and unmaps.
func (c *Conn) Close() error {
	c.use.RLock()
	if !c.closed { // a second Close must not touch unmapped memory
		c.send.close()
		c.recv.close()
	}
	c.use.RUnlock()
	c.use.Lock()
	defer c.use.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.sock.Close()
	unmapAll(c.maps)
	return err
}

func unmapAll(maps [][]byte) {
	for _, m := range maps {
		unix.Munmap(m)
	}
}

// IsPeerGone reports an error that means the other process is gone.
func IsPeerGone(err error) bool { return errors.Is(err, ErrPeerGone) || errors.Is(err, ErrClosed) }
