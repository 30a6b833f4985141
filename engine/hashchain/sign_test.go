package hashchain

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func TestStampSignVerify(t *testing.T) {
	key := testKey(1)
	st, err := NewStamp(key, 3, 1000, bytes.NewReader(pat(0x40, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Nonce != [32]byte(pat(0x40, 32)) || !bytes.Equal(st.PublicKey[:], key[32:]) {
		t.Fatal("nonce or public key not as given")
	}
	if err := st.Verify(3, 1000); err != nil {
		t.Fatal(err)
	}
	if st.IsZero() || !(&Stamp{}).IsZero() {
		t.Fatal("IsZero")
	}
	tamper := []struct {
		name      string
		mut       func(*Stamp)
		partition uint32
		time      uint64
	}{
		{"partition", func(*Stamp) {}, 4, 1000},
		{"time", func(*Stamp) {}, 3, 1001},
		{"nonce", func(s *Stamp) { s.Nonce[31] ^= 1 }, 3, 1000},
		{"signature", func(s *Stamp) { s.Signature[0] ^= 1 }, 3, 1000},
		{"public key", func(s *Stamp) { s.PublicKey = [32]byte(testKey(2)[32:]) }, 3, 1000},
	}
	for _, tc := range tamper {
		s := st
		tc.mut(&s)
		if err := s.Verify(tc.partition, tc.time); !errors.Is(err, ErrSignature) {
			t.Errorf("tampered %s: Verify = %v, want ErrSignature", tc.name, err)
		}
	}
}

func TestStampErrors(t *testing.T) {
	if _, err := NewStamp(testKey(1)[:32], 1, 1, bytes.NewReader(pat(0, 32))); err == nil {
		t.Error("NewStamp with a 32-byte key succeeded")
	}
	if _, err := NewStamp(testKey(1), 1, 1, bytes.NewReader(pat(0, 31))); err == nil {
		t.Error("NewStamp with a short nonce source succeeded")
	}
}

func TestStampCodec(t *testing.T) {
	st, err := NewStamp(testKey(1), 3, 1000, bytes.NewReader(pat(0x40, 32)))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, StampSize)
	st.Encode(b)
	if !bytes.Equal(b[:32], st.PublicKey[:]) || !bytes.Equal(b[32:64], st.Nonce[:]) || !bytes.Equal(b[64:], st.Signature[:]) {
		t.Fatal("encoding is not public key, nonce, signature")
	}
	back, err := DecodeStamp(b)
	if err != nil || back != st {
		t.Fatalf("round trip: %v %v", back, err)
	}
	for _, n := range []int{0, 127, 129} {
		if _, err := DecodeStamp(make([]byte, n)); !errors.Is(err, ErrFormat) {
			t.Errorf("DecodeStamp of %d bytes: %v, want ErrFormat", n, err)
		}
	}
}

func TestCheckpointSignVerify(t *testing.T) {
	key := testKey(5)
	c := SignCheckpoint(key, 2, 99, BLAKE2b256, patHash(0x20), 123456)
	if err := c.Verify(); err != nil {
		t.Fatal(err)
	}
	if c.Partition != 2 || c.Version != 99 || c.Alg != BLAKE2b256 || c.System != patHash(0x20) || c.Time != 123456 {
		t.Fatalf("fields not as signed: %+v", c)
	}
	tamper := map[string]func(*Checkpoint){
		"partition":  func(c *Checkpoint) { c.Partition++ },
		"version":    func(c *Checkpoint) { c.Version++ },
		"alg":        func(c *Checkpoint) { c.Alg = SHA256 },
		"system":     func(c *Checkpoint) { c.System[7] ^= 0x10 },
		"time":       func(c *Checkpoint) { c.Time-- },
		"public key": func(c *Checkpoint) { c.PublicKey = [32]byte(testKey(6)[32:]) },
		"signature":  func(c *Checkpoint) { c.Signature[63] ^= 1 },
	}
	for name, mut := range tamper {
		d := c
		mut(&d)
		if err := d.Verify(); !errors.Is(err, ErrSignature) {
			t.Errorf("tampered %s: Verify = %v, want ErrSignature", name, err)
		}
	}
	bad := c
	bad.Alg = 7
	if err := bad.Verify(); !errors.Is(err, ErrUnknownAlg) {
		t.Errorf("alg 7: Verify = %v", err)
	}
	unsigned := SignCheckpoint(key[:10], 2, 99, SHA256, Hash{}, 1)
	if err := unsigned.Verify(); err == nil {
		t.Error("checkpoint signed with a bad key verifies")
	}
	// A stamp signature is not a checkpoint signature (domain separation).
	st, _ := NewStamp(key, 2, 99, bytes.NewReader(pat(0, 32)))
	forged := c
	forged.Signature = st.Signature
	if forged.Verify() == nil {
		t.Error("stamp signature accepted as checkpoint signature")
	}
}

func TestCheckpointCodec(t *testing.T) {
	c := SignCheckpoint(testKey(5), 2, 99, SHA256, patHash(0x20), 123456)
	b, err := c.MarshalBinary()
	if err != nil || len(b) != CheckpointSize {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
	}
	var back Checkpoint
	if err := back.UnmarshalBinary(b); err != nil || back != c {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if err := back.Verify(); err != nil {
		t.Fatal(err)
	}
	mutate := map[string]func([]byte) []byte{
		"short":    func(b []byte) []byte { return b[:CheckpointSize-1] },
		"long":     func(b []byte) []byte { return append(b, 0) },
		"format":   func(b []byte) []byte { b[0] = 2; return b },
		"alg":      func(b []byte) []byte { b[1] = 0; return b },
		"reserved": func(b []byte) []byte { b[3] = 1; return b },
	}
	for name, mut := range mutate {
		bad := mut(append([]byte(nil), b...))
		d := c
		if err := d.UnmarshalBinary(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: UnmarshalBinary = %v, want ErrFormat", name, err)
		}
		if d != c {
			t.Errorf("%s: failed UnmarshalBinary changed the checkpoint", name)
		}
	}
}

func FuzzCheckpointUnmarshal(f *testing.F) {
	c := SignCheckpoint(testKey(5), 2, 99, SHA256, patHash(0x20), 123456)
	b, _ := c.MarshalBinary()
	f.Add(b)
	f.Add(make([]byte, CheckpointSize))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Checkpoint
		if err := c.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := c.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded checkpoint re-encodes differently: %x", again)
		}
		_ = c.Verify() // must not panic
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "node", "signing.key")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if len(data) != 65 || data[64] != '\n' {
		t.Fatalf("key file holds %q", data)
	}
	pub, _ := os.ReadFile(path + ".pub")
	if string(pub) != strings.ToLower(strings.TrimSpace(string(pub)))+"\n" || len(pub) != 65 {
		t.Fatalf("public key file holds %q", pub)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !key.Equal(again) {
		t.Fatalf("reload gave another key (%v)", err)
	}
	// The public key file matches the key.
	c := SignCheckpoint(again, 1, 1, SHA256, Hash{}, 1)
	if err := c.Verify(); err != nil || string(pub) != Hash(c.PublicKey).String()+"\n" {
		t.Fatalf("public key file %q does not match the key (%v)", pub, err)
	}
	// Reloading without the .pub recreates it.
	if err := os.Remove(path + ".pub"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	if pub2, _ := os.ReadFile(path + ".pub"); !bytes.Equal(pub2, pub) {
		t.Fatalf("recreated public key file %q, want %q", pub2, pub)
	}
}

func TestLoadOrCreateKeyRejectsMalformed(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":     "",
		"short":     strings.Repeat("ab", 31) + "\n",
		"long":      strings.Repeat("ab", 33) + "\n",
		"not hex":   strings.Repeat("zz", 32) + "\n",
		"two lines": strings.Repeat("ab", 32) + "\n\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateKey(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v should name %s", name, err, path)
		}
		if after, _ := os.ReadFile(path); string(after) != content {
			t.Errorf("%s: malformed key file was rewritten", name)
		}
	}
	// A .pub that does not match the key is an error too.
	path := filepath.Join(dir, "mismatch.key")
	if _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", []byte(strings.Repeat("00", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), path+".pub") {
		t.Errorf("mismatched public key file: %v", err)
	}
}
