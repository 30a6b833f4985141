package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A ring is a single-producer single-consumer queue of frames in a shared
// memory region that two processes map. Positions only grow; a position
// modulo the capacity is an offset in the data area.
//
//	0     magic u32 · version u32 · capacity u64
//	64    head u64      consumer's position (own cache line)
//	128   tail u64      producer's position (own cache line)
//	192   dataSeq u32   futex: bumped after the producer publishes
//	196   readerWaits u32
//	256   spaceSeq u32  futex: bumped after the consumer frees space
//	260   writerWaits u32
//	320   closed u32    set by either side when it closes
//	4096  data (capacity bytes, a power of two)
//
// A frame is a 16-byte header (payload length u32 · flags u32 · request id
// u64) and the payload, padded to 8 bytes. A frame never straddles the end
// of the data area: the producer writes a wrap frame (or, with under 16
// bytes left, nothing) and starts again at offset 0.
const (
	headerSize = 4096
	frameHead  = 16
	ringMagic  = 0x636f6e74 // "cont"
	ringFormat = 1

	offMagic, offCapacity              = 0, 8
	offHead, offTail                   = 64, 128
	offDataSeq, offReaderWaits         = 192, 196
	offSpaceSeq, offWriterWaits        = 256, 260
	offClosed                          = 320
	flagWrap                    uint32 = 1
)

// Errors of ring operations.
var (
	ErrClosed   = errors.New("shm: ring closed")
	ErrPeerGone = errors.New("shm: peer is gone")
	ErrTimeout  = errors.New("shm: timed out")
	ErrTooLarge = errors.New("shm: frame larger than half the ring")
)

// ring is a view of one shared region.
type ring struct {
	mem      []byte
	capacity uint64
	peerGone *atomic.Bool // set when the control connection to the peer breaks
}

func (r *ring) u64(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&r.mem[off])) }
func (r *ring) u32(off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&r.mem[off])) }

// initRing formats a fresh region.
func initRing(mem []byte) {
	binary.LittleEndian.PutUint32(mem[offMagic:], ringMagic)
	binary.LittleEndian.PutUint32(mem[offMagic+4:], ringFormat)
	binary.LittleEndian.PutUint64(mem[offCapacity:], uint64(len(mem)-headerSize))
}

// openRing checks a region's header and returns its view.
func openRing(mem []byte, peerGone *atomic.Bool) (*ring, error) {
	if len(mem) < headerSize+4096 {
		return nil, fmt.Errorf("shm: region of %d bytes is too small", len(mem))
	}
	if binary.LittleEndian.Uint32(mem[offMagic:]) != ringMagic || binary.LittleEndian.Uint32(mem[offMagic+4:]) != ringFormat {
		return nil, errors.New("shm: region is not a conto ring")
	}
	c := binary.LittleEndian.Uint64(mem[offCapacity:])
	if c != uint64(len(mem)-headerSize) || c&(c-1) != 0 {
		return nil, fmt.Errorf("shm: bad capacity %d for a region of %d bytes", c, len(mem))
	}
	return &ring{mem: mem, capacity: c, peerGone: peerGone}, nil
}

func (r *ring) data() []byte { return r.mem[headerSize:] }

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// closed reports why the ring cannot be used, if it cannot.
func (r *ring) check() error {
	switch {
	case r.u32(offClosed).Load() != 0:
		return ErrClosed
	case r.peerGone.Load():
		return ErrPeerGone
	}
	return nil
}

// write appends one frame, waiting up to timeout for space.
func (r *ring) write(id uint64, payload []byte, timeout time.Duration) error {
	need := align8(frameHead + uint64(len(payload)))
	if need > r.capacity/2 {
		return ErrTooLarge
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := r.check(); err != nil {
			return err
		}
		tail, head := r.u64(offTail).Load(), r.u64(offHead).Load()
		pos := tail % r.capacity
		skip := uint64(0)
		if r.capacity-pos < need {
			skip = r.capacity - pos // the rest of the lap is wasted
		}
		if tail+skip+need-head <= r.capacity {
			r.publish(tail, pos, skip, need, id, payload)
			return nil
		}
		seq := r.u32(offSpaceSeq).Load()
		if err := r.sleep(offWriterWaits, offSpaceSeq, seq, deadline, func() bool {
			return r.u64(offHead).Load() != head
		}); err != nil {
			return err
		}
	}
}

func (r *ring) publish(tail, pos, skip, need, id uint64, payload []byte) {
	d := r.data()
	if skip > 0 {
		if skip >= frameHead {
			binary.LittleEndian.PutUint32(d[pos:], 0)
			binary.LittleEndian.PutUint32(d[pos+4:], flagWrap)
		}
		tail += skip
		pos = 0
	}
	binary.LittleEndian.PutUint32(d[pos:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(d[pos+4:], 0)
	binary.LittleEndian.PutUint64(d[pos+8:], id)
	copy(d[pos+frameHead:], payload)
	r.u64(offTail).Store(tail + need) // publish: the consumer reads up to tail
	r.u32(offDataSeq).Add(1)
	if r.u32(offReaderWaits).Load() != 0 {
		futexWake(r.u32(offDataSeq))
	}
}

// read takes the next frame, waiting up to timeout. The payload is copied
// into buf (grown as needed) and returned.
func (r *ring) read(buf []byte, timeout time.Duration) (uint64, []byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		head, tail := r.u64(offHead).Load(), r.u64(offTail).Load()
		if head != tail {
			return r.take(head, buf)
		}
		if err := r.check(); err != nil {
			return 0, nil, err
		}
		seq := r.u32(offDataSeq).Load()
		if err := r.sleep(offReaderWaits, offDataSeq, seq, deadline, func() bool {
			return r.u64(offTail).Load() != tail
		}); err != nil {
			return 0, nil, err
		}
	}
}

func (r *ring) take(head uint64, buf []byte) (uint64, []byte, error) {
	d := r.data()
	pos := head % r.capacity
	if r.capacity-pos < frameHead || binary.LittleEndian.Uint32(d[pos+4:])&flagWrap != 0 {
		head += r.capacity - pos // wrap
		pos = 0
	}
	n := uint64(binary.LittleEndian.Uint32(d[pos:]))
	if frameHead+n > r.capacity/2 {
		return 0, nil, fmt.Errorf("shm: corrupt frame of %d bytes at %d", n, head)
	}
	id := binary.LittleEndian.Uint64(d[pos+8:])
	buf = append(buf[:0], d[pos+frameHead:pos+frameHead+n]...)
	r.u64(offHead).Store(head + align8(frameHead+n))
	r.u32(offSpaceSeq).Add(1)
	if r.u32(offWriterWaits).Load() != 0 {
		futexWake(r.u32(offSpaceSeq))
	}
	return id, buf, nil
}

// sleep parks on a futex word until it changes, ready() holds, the deadline
// passes, or the ring closes. It wakes at least every 50 ms to notice a
// peer that died without closing.
func (r *ring) sleep(waitsOff, seqOff int, seq uint32, deadline time.Time, ready func() bool) error {
	waits := r.u32(waitsOff)
	waits.Add(1)
	defer waits.Add(^uint32(0))
	if ready() { // re-check after announcing the wait: no lost wake-up
		return nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		return ErrTimeout
	}
	futexWait(r.u32(seqOff), seq, min(left, 50*time.Millisecond))
	return nil
}

// close marks the ring closed for both sides and wakes any waiter.
func (r *ring) close() {
	r.u32(offClosed).Store(1)
	r.wakeAll()
}

func (r *ring) wakeAll() {
	r.u32(offDataSeq).Add(1)
	futexWake(r.u32(offDataSeq))
	r.u32(offSpaceSeq).Add(1)
	futexWake(r.u32(offSpaceSeq))
}

// Futex operations on shared (not process-private) words: the waiter and
// the waker are different processes.
const (
	futexWaitOp = 0
	futexWakeOp = 1
)

func futexWait(addr *atomic.Uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(addr *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(1<<30), 0, 0, 0)
}
