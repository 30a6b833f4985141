package shm

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Round trips between two processes: a ring pair against loopback HTTP,
// with payloads of 1 and 64 128-byte records. The peer echoes.

func BenchmarkRingRoundTrip1Record(b *testing.B)   { benchRing(b, 128) }
func BenchmarkRingRoundTrip64Records(b *testing.B) { benchRing(b, 64*128) }
func BenchmarkHTTPRoundTrip1Record(b *testing.B)   { benchHTTP(b, 128) }
func BenchmarkHTTPRoundTrip64Records(b *testing.B) { benchHTTP(b, 64*128) }

func benchRing(b *testing.B, size int) {
	c, child := startEchoChild(b, DefaultCapacity)
	defer func() { c.Close(); child.Wait() }()
	payload := bytes.Repeat([]byte{7}, size)
	var buf []byte
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Send(uint64(i), payload, time.Second); err != nil {
			b.Fatal(err)
		}
		_, got, err := c.Recv(buf, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		buf = got
	}
}

const httpChildEnv = "CONTO_SHM_HTTP_CHILD"

// TestHTTPEchoChild serves an HTTP echo on 127.0.0.1 and prints its address.
func TestHTTPEchoChild(t *testing.T) {
	if os.Getenv(httpChildEnv) == "" {
		t.Skip("runs only as a child process")
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})}
	ln, err := listenLoopback()
	if err != nil {
		os.Exit(1)
	}
	os.Stdout.WriteString("addr " + ln.Addr().String() + "\n")
	srv.Serve(ln)
}

func benchHTTP(b *testing.B, size int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPEchoChild$", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), httpChildEnv+"=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, _ := bufio.NewReader(out).ReadString('\n')
	addr := strings.TrimSpace(strings.TrimPrefix(line, "addr "))
	client := &http.Client{Timeout: 5 * time.Second}
	payload := bytes.Repeat([]byte{7}, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Post("http://"+addr+"/", "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
