package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func replayAll(t *testing.T, path string) ([]string, Stats, error) {
	t.Helper()
	var got []string
	j, st, err := Open(path, 1024, func(b []byte) error { got = append(got, string(b)); return nil })
	if err == nil {
		j.Close()
	}
	return got, st, err
}

func writeRecords(t *testing.T, path string, n int) {
	t.Helper()
	j, _, err := Open(path, 1024, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range n {
		if err := j.Append([]byte(fmt.Sprintf("record %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	writeRecords(t, path, 5)
	got, st, err := replayAll(t, path)
	if err != nil || len(got) != 5 || got[4] != "record 4" || st.TornBytes != 0 {
		t.Fatalf("replay: %v %+v %v", got, st, err)
	}
}

func TestTornTailDropped(t *testing.T) {
	for name, tail := range map[string][]byte{
		"short header":   {0, 0},
		"short payload":  {0, 0, 0, 9, 1, 2, 3, 4, 'a'},
		"bad checksum":   {0, 0, 0, 1, 9, 9, 9, 9, 'a'},
		"zeroed extent":  make([]byte, 64),
		"zero length hd": {0, 0, 0, 0, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.log")
			writeRecords(t, path, 3)
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tail)
			f.Close()
			got, st, err := replayAll(t, path)
			if err != nil || len(got) != 3 || st.TornBytes != int64(len(tail)) {
				t.Fatalf("got %v %+v %v", got, st, err)
			}
			// The tail is gone: appends continue cleanly.
			writeRecords(t, path, 1)
			if got, _, err := replayAll(t, path); err != nil || len(got) != 4 {
				t.Fatalf("after append: %v %v", got, err)
			}
		})
	}
}

func TestMiddleDamageRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	writeRecords(t, path, 3)
	raw, _ := os.ReadFile(path)
	raw[10] ^= 0xFF // inside the first record's payload
	os.WriteFile(path, raw, 0o600)
	if _, _, err := replayAll(t, path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damage in the middle: %v", err)
	}
	raw[10] ^= 0xFF
	raw[len(raw)-3] = 0xEE
	copy(raw[0:4], []byte{0x7F, 0, 0, 0}) // impossible length, garbage after it
	os.WriteFile(path, raw, 0o600)
	if _, _, err := replayAll(t, path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad length followed by data: %v", err)
	}
}

func TestRewriteAndLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	j, _, err := Open(path, 8, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append([]byte("123456789")); err == nil {
		t.Fatal("oversized record accepted")
	}
	if err := j.Append(nil); err == nil {
		t.Fatal("empty record accepted")
	}
	j.Append([]byte("a"), []byte("b"))
	if err := j.Rewrite([][]byte{[]byte("c")}); err != nil {
		t.Fatal(err)
	}
	j.Append([]byte("d"))
	var got []string
	if _, err := Scan(path, 8, func(b []byte) error { got = append(got, string(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[c d]" {
		t.Fatalf("after rewrite: %v", got)
	}
}
