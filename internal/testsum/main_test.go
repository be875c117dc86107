package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

// A go test -json stream with a passing, a skipped and a failing test.
const stream = `{"Action":"start","Package":"x/p"}
{"Action":"run","Package":"x/p","Test":"TestOK"}
{"Action":"output","Package":"x/p","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"x/p","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"x/p","Test":"TestOK"}
{"Action":"run","Package":"x/p","Test":"TestRoot"}
{"Action":"output","Package":"x/p","Test":"TestRoot","Output":"=== RUN   TestRoot\n"}
{"Action":"output","Package":"x/p","Test":"TestRoot","Output":"    p_test.go:12: needs root\n"}
{"Action":"output","Package":"x/p","Test":"TestRoot","Output":"--- SKIP: TestRoot (0.00s)\n"}
{"Action":"skip","Package":"x/p","Test":"TestRoot"}
{"Action":"run","Package":"x/p","Test":"TestBad"}
{"Action":"output","Package":"x/p","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"x/p","Test":"TestBad","Output":"    p_test.go:20: got 1, want 2\n"}
{"Action":"output","Package":"x/p","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"x/p","Test":"TestBad"}
{"Action":"output","Package":"x/p","Output":"FAIL\n"}
{"Action":"output","Package":"x/p","Output":"FAIL\tx/p\t0.01s\n"}
{"Action":"fail","Package":"x/p"}
`

func TestSummary(t *testing.T) {
	var out strings.Builder
	s := newSummary(&out)
	sc := bufio.NewScanner(strings.NewReader(stream))
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		s.add(e)
	}
	s.finish("")
	got := out.String()
	for _, want := range []string{
		"p_test.go:20: got 1, want 2\n--- FAIL: TestBad",
		"FAIL\tx/p\t0.01s\n",
		"SKIP x/p TestRoot: needs root (p_test.go:12)\n",
		"failed packages: x/p\n",
		"\ngo-test: 1 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "TestOK") || strings.Contains(got, "=== RUN") {
		t.Errorf("output shows a passing test or test2json framing:\n%s", got)
	}
}
