package gadget

import (
	"fmt"
	"testing"
)

// TestReportQueue: state reports keep one place per report ID with the
// newest data; command replies keep every chunk in order.
func TestReportQueue(t *testing.T) {
	q := newReportQueue(8)
	q.pushState([]byte{0x0a, 0x0a}) // on battery
	q.push([]byte("(230.0 "))
	q.pushState([]byte{0x0c, 40})   // charge 40
	q.pushState([]byte{0x0a, 0x1a}) // low battery: replaces the first, in its place
	q.push([]byte("22\r"))
	var got []string
	for range 4 {
		got = append(got, fmt.Sprintf("% x", q.next()))
	}
	want := []string{"0a 1a", "28 32 33 30 2e 30 20", "0c 28", "32 32 0d"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	for i := range 8 {
		if !q.push([]byte{byte(i)}) {
			t.Fatalf("push %d refused below the bound", i)
		}
	}
	if q.push([]byte{9}) || q.pushState([]byte{0x0a, 1}) {
		t.Error("a full queue took another report")
	}
}
