package shm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func pair(t *testing.T, capacity int) (*Conn, *Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ring.sock")
	l, err := Listen(path, capacity)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := Dial(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func payloadFor(id uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(id*31 + uint64(i))
	}
	return b
}

// TestFramesInOrderAcrossWraps sends many frames of varied sizes through a
// small ring, so the positions wrap many times, in both directions.
func TestFramesInOrderAcrossWraps(t *testing.T) {
	server, client := pair(t, 8192)
	const frames = 20000
	done := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for id := uint64(1); id <= frames; id++ {
			if err := client.Send(id, payloadFor(id, rng.IntN(3000)), 5*time.Second); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	for want := uint64(1); want <= frames; want++ {
		id, p, err := server.Recv(buf, 5*time.Second)
		if err != nil {
			t.Fatalf("frame %d: %v", want, err)
		}
		if id != want || !bytes.Equal(p, payloadFor(want, rng.IntN(3000))) {
			t.Fatalf("frame %d: got id %d with %d bytes", want, id, len(p))
		}
		buf = p
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLimitsTimeoutsAndClose(t *testing.T) {
	server, client := pair(t, 8192)
	if err := client.Send(1, make([]byte, 5000), time.Second); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
	start := time.Now()
	if _, _, err := server.Recv(nil, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("empty ring: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("timeout took far too long")
	}
	// A full ring makes the sender wait, then time out.
	for i := 0; ; i++ {
		if err := client.Send(uint64(i), make([]byte, 1000), 50*time.Millisecond); errors.Is(err, ErrTimeout) {
			break
		} else if err != nil || i > 100 {
			t.Fatalf("filling the ring: %v after %d frames", err, i)
		}
	}
	client.Close()
	// Frames sent before the close are still delivered, then ErrClosed.
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, _, err = server.Recv(nil, time.Second)
	}
	if !IsPeerGone(err) {
		t.Fatalf("after the peer closed: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// The two-process tests run an echo peer in a child process (this test
// binary, re-executed) that dials the parent's socket.
const childEnv = "CONTO_SHM_CHILD"

func TestEchoChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("runs only as a child process")
	}
	c, err := Dial(path, 5*time.Second)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	var buf []byte
	for {
		id, p, err := c.Recv(buf, time.Minute)
		if err != nil {
			os.Exit(0)
		}
		if err := c.Send(id, p, time.Minute); err != nil {
			os.Exit(0)
		}
		buf = p
	}
}

func startEchoChild(t testing.TB, capacity int) (*Conn, *exec.Cmd) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	l, err := Listen(path, capacity)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEchoChild$", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	return c, cmd
}

func TestTwoProcessesAndPeerDeath(t *testing.T) {
	c, child := startEchoChild(t, 1<<16)
	defer c.Close()
	defer child.Wait()
	rng := rand.New(rand.NewPCG(3, 4))
	var buf []byte
	for id := uint64(1); id <= 5000; id++ {
		p := payloadFor(id, rng.IntN(8000))
		if err := c.Send(id, p, 5*time.Second); err != nil {
			t.Fatalf("send %d: %v", id, err)
		}
		gotID, got, err := c.Recv(buf, 5*time.Second)
		if err != nil || gotID != id || !bytes.Equal(got, p) {
			t.Fatalf("echo %d: id %d, %d bytes, err %v", id, gotID, len(got), err)
		}
		buf = got
	}
	// The peer dies mid-stream (SIGKILL): the next receive must fail with
	// ErrPeerGone quickly, not wait for its timeout.
	child.Process.Kill()
	start := time.Now()
	var err error
	for err == nil && time.Since(start) < 10*time.Second {
		if err = c.Send(99999, []byte("x"), time.Minute); err == nil {
			_, _, err = c.Recv(nil, time.Minute)
		}
	}
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("after the peer was killed: %v", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("noticing the dead peer took %v", waited)
	}
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
