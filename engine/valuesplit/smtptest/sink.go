// Package smtptest is a tiny SMTP server for tests: it speaks enough of
// RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for net/smtp to
// deliver to it, keeps every message, and can be told to refuse the next
// deliveries to exercise retries.
package smtptest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Message is one delivered message.
type Message struct {
	From string
	To   []string
	Data string // headers and body as received, dot-unstuffed, CRLF line ends
}

// Sink is a running SMTP server on 127.0.0.1.
type Sink struct {
	ln       net.Listener
	mu       sync.Mutex
	messages []Message
	failNext int    // refuse this many MAIL commands
	failCode string // with this reply
	wg       sync.WaitGroup
}

// Start listens on a free loopback port.
func Start() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp sink listen: %w", err)
	}
	s := &Sink{ln: ln}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns host:port.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for its connections.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// FailNext makes the next n deliveries fail at MAIL with reply (e.g. "451
// try later" for a transient error, "550 no" for a permanent one).
func (s *Sink) FailNext(n int, reply string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, reply
}

// Messages returns the messages delivered so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// To returns the messages delivered to addr.
func (s *Sink) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, r := range m.To {
			if r == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func (s *Sink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
		}()
	}
}

func (s *Sink) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(line string) {
		w.WriteString(line + "\r\n")
		w.Flush()
	}
	reply("220 smtptest ready")
	var cur Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO":
			reply("250-smtptest")
			reply("250 8BITMIME")
		case "HELO", "NOOP":
			reply("250 ok")
		case "RSET":
			cur = Message{}
			reply("250 ok")
		case "MAIL":
			if code := s.takeFailure(); code != "" {
				reply(code)
				continue
			}
			cur = Message{From: addrOf(line)}
			reply("250 ok")
		case "RCPT":
			cur.To = append(cur.To, addrOf(line))
			reply("250 ok")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := readData(r)
			if err != nil {
				return
			}
			cur.Data = data
			s.mu.Lock()
			s.messages = append(s.messages, cur)
			s.mu.Unlock()
			cur = Message{}
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (s *Sink) takeFailure() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext == 0 {
		return ""
	}
	s.failNext--
	return s.failCode
}

func addrOf(line string) string {
	i, j := strings.IndexByte(line, '<'), strings.IndexByte(line, '>')
	if i < 0 || j < i {
		return ""
	}
	return line[i+1 : j]
}

// readData reads a DATA section up to the lone dot, undoing dot-stuffing.
func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.String(), nil
		}
		if strings.HasPrefix(line, ".") {
			line = line[1:]
		}
		b.WriteString(line)
	}
}
