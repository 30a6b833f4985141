package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{nil, 2, "", "usage: conto"},
		{[]string{"version"}, 0, "conto ", ""},
		{[]string{"help"}, 0, "usage: conto", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := run(c.args, &out, &errOut); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
		if !strings.Contains(out.String(), c.out) || !strings.Contains(errOut.String(), c.errOut) {
			t.Errorf("%v: stdout %q stderr %q, want %q / %q", c.args, out.String(), errOut.String(), c.out, c.errOut)
		}
	}
}
