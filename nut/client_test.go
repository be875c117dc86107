package nut

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Special replies of the fake server.
const (
	hang = "<hang>" // read the request, never answer
	drop = "<drop>" // close the connection instead of answering
)

// fakeUPSD serves the protocol on 127.0.0.1 from a table of request line →
// reply lines ("\n"-separated). Unknown requests get ERR UNKNOWN-COMMAND.
// It returns the address.
func fakeUPSD(t *testing.T, replies map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFake(conn, replies, done)
		}
	}()
	return ln.Addr().String()
}

func serveFake(conn net.Conn, replies map[string]string, done chan struct{}) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		req, err := r.ReadString('\n')
		if err != nil {
			return
		}
		reply, ok := replies[strings.TrimSuffix(req, "\n")]
		switch {
		case !ok:
			reply = "ERR UNKNOWN-COMMAND"
		case reply == hang:
			<-done
			return
		case reply == drop:
			return
		case strings.HasSuffix(reply, "\n"+drop):
			io.WriteString(conn, strings.TrimSuffix(reply, drop))
			return
		}
		if _, err := io.WriteString(conn, reply+"\n"); err != nil {
			return
		}
	}
}

const listVars = "BEGIN LIST VAR ups\n" +
	`VAR ups battery.charge "87"` + "\n" +
	`VAR ups ups.status "OB DISCHRG"` + "\n" +
	`VAR ups device.model "Smart \"UPS\" 1500"` + "\n" +
	"END LIST VAR ups"

func dialFake(t *testing.T, replies map[string]string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), fakeUPSD(t, replies))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientRequests(t *testing.T) {
	ctx := context.Background()
	c := dialFake(t, map[string]string{
		"LIST VAR ups":                   listVars,
		"LIST UPS":                       "BEGIN LIST UPS\nUPS ups \"Lab UPS\"\nUPS other \"\"\nEND LIST UPS",
		"GET VAR ups ups.status":         `VAR ups ups.status "OL CHRG"`,
		"VER":                            "Network UPS Tools upsd 2.8.0 - https://www.networkupstools.org/",
		"NETVER":                         "1.2",
		"USERNAME admin":                 "OK",
		`PASSWORD "p w"`:                 "OK",
		`SET VAR ups ups.status "OB LB"`: "OK",
		"GET NUMLOGINS ups":              "NUMLOGINS ups 2",
	})
	vars, err := c.ListVars(ctx, "ups")
	if err != nil {
		t.Fatalf("ListVars: %v", err)
	}
	want := map[string]string{"battery.charge": "87", "ups.status": "OB DISCHRG", "device.model": `Smart "UPS" 1500`}
	if diff := cmp.Diff(want, vars); diff != "" {
		t.Errorf("ListVars mismatch (-want +got):\n%s", diff)
	}
	upses, err := c.ListUPS(ctx)
	if err != nil {
		t.Fatalf("ListUPS: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"ups": "Lab UPS", "other": ""}, upses); diff != "" {
		t.Errorf("ListUPS mismatch (-want +got):\n%s", diff)
	}
	if got, err := c.GetVar(ctx, "ups", "ups.status"); err != nil || got != "OL CHRG" {
		t.Errorf("GetVar = %q, %v; want \"OL CHRG\", nil", got, err)
	}
	if got, err := c.Version(ctx); err != nil || !strings.Contains(got, "upsd 2.8.0") {
		t.Errorf("Version = %q, %v", got, err)
	}
	// PROTVER is unknown to this fake, like upsd before 2.8.0: fall back.
	if got, err := c.ProtocolVersion(ctx); err != nil || got != "1.2" {
		t.Errorf("ProtocolVersion = %q, %v; want 1.2", got, err)
	}
	if err := c.Authenticate(ctx, "admin", "p w"); err != nil {
		t.Errorf("Authenticate: %v", err)
	}
	if err := c.SetVar(ctx, "ups", "ups.status", "OB LB"); err != nil {
		t.Errorf("SetVar: %v", err)
	}
	if n, err := c.NumLogins(ctx, "ups"); err != nil || n != 2 {
		t.Errorf("NumLogins = %d, %v; want 2", n, err)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		reply     string
		sentinel  error
		noReading bool
	}{
		{"ERR DATA-STALE", ErrDataStale, true},
		{"ERR DRIVER-NOT-CONNECTED", ErrDriverNotConnected, true},
		{"ERR UNKNOWN-UPS", ErrUnknownUPS, false},
		{"ERR ACCESS-DENIED", ErrAccessDenied, false},
		{"ERR VAR-NOT-SUPPORTED", ErrVarNotSupported, false},
		{"ERR INVALID-ARGUMENT extra detail", ErrInvalidArgument, false},
		{"ERR FEATURE-NOT-CONFIGURED", ErrFeatureNotConfigured, false},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			c := dialFake(t, map[string]string{
				"GET VAR ups x": tt.reply,
				"LIST VAR ups":  tt.reply,
				"GET VAR ups y": `VAR ups y "1"`,
			})
			_, err := c.GetVar(context.Background(), "ups", "x")
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("GetVar error = %v, want %v", err, tt.sentinel)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != strings.Fields(tt.reply)[1] {
				t.Errorf("GetVar error %v: no *Error with code from %q", err, tt.reply)
			}
			if got := NoReading(err); got != tt.noReading {
				t.Errorf("NoReading(%v) = %v, want %v", err, got, tt.noReading)
			}
			if _, err := c.ListVars(context.Background(), "ups"); !errors.Is(err, tt.sentinel) {
				t.Errorf("ListVars error = %v, want %v", err, tt.sentinel)
			}
			// An ERR reply leaves the stream in step: the client goes on.
			if v, err := c.GetVar(context.Background(), "ups", "y"); err != nil || v != "1" {
				t.Errorf("GetVar after ERR = %q, %v; want 1, nil", v, err)
			}
		})
	}
}

func TestErrorIsComparesCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{Code: "DATA-STALE", Detail: "x"})
	if !errors.Is(err, ErrDataStale) {
		t.Errorf("errors.Is(%v, ErrDataStale) = false", err)
	}
	if errors.Is(err, ErrDriverNotConnected) {
		t.Errorf("errors.Is(%v, ErrDriverNotConnected) = true", err)
	}
}

func TestTimeoutBreaksClient(t *testing.T) {
	c := dialFake(t, map[string]string{"LIST VAR ups": hang})
	c.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := c.ListVars(context.Background(), "ups")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("ListVars took %v with a 100ms timeout", el)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || !NoReading(err) {
		t.Fatalf("ListVars error = %v (NoReading %v), want a deadline error with NoReading", err, NoReading(err))
	}
	if _, err := c.ListVars(context.Background(), "ups"); !errors.Is(err, ErrClosed) || !NoReading(err) {
		t.Errorf("after a timeout: error = %v, want ErrClosed", err)
	}
}

func TestContextCancelInterruptsRequest(t *testing.T) {
	c := dialFake(t, map[string]string{"LIST VAR ups": hang})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.ListVars(ctx, "ups")
	if !errors.Is(err, context.Canceled) || !NoReading(err) {
		t.Fatalf("ListVars error = %v, want context.Canceled and NoReading", err)
	}
}

func TestContextDeadline(t *testing.T) {
	c := dialFake(t, map[string]string{"GET VAR ups ups.status": hang})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	_, err := c.GetVar(ctx, "ups", "ups.status")
	if !errors.Is(err, context.DeadlineExceeded) || !NoReading(err) {
		t.Fatalf("GetVar error = %v, want context.DeadlineExceeded and NoReading", err)
	}
}

func TestDroppedConnection(t *testing.T) {
	for _, reply := range []string{drop, "BEGIN LIST VAR ups\nVAR ups ups.status \"OL\"\n" + drop} {
		c := dialFake(t, map[string]string{"LIST VAR ups": reply})
		_, err := c.ListVars(context.Background(), "ups")
		if err == nil || !NoReading(err) {
			t.Errorf("reply %q: ListVars error = %v, want a NoReading error", reply, err)
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, reply := range []string{
		"SSH-2.0-OpenSSH_9.2",
		"BEGIN LIST VAR other\nEND LIST VAR other",
		"BEGIN LIST VAR ups\nVAR ups x\nEND LIST VAR ups",
		"BEGIN LIST VAR ups\nVAR ups x \"open\nEND LIST VAR ups",
		"BEGIN LIST VAR ups\nEND LIST UPS",
		"ERR",
		"",
	} {
		c := dialFake(t, map[string]string{"LIST VAR ups": reply})
		_, err := c.ListVars(context.Background(), "ups")
		if !errors.Is(err, ErrProtocol) || NoReading(err) {
			t.Errorf("reply %q: ListVars error = %v (NoReading %v), want ErrProtocol", reply, err, NoReading(err))
		}
	}
}

func TestRequestRefusesLineBreaks(t *testing.T) {
	c := dialFake(t, map[string]string{"LIST VAR ups": listVars})
	if _, err := c.ListVars(context.Background(), "ups\nFSD ups"); err == nil {
		t.Fatal("ListVars with a line break in the UPS name succeeded")
	}
	if _, err := c.ListVars(context.Background(), "ups"); err != nil {
		t.Errorf("ListVars after a refused request: %v", err)
	}
}

func TestReadVars(t *testing.T) {
	ctx := context.Background()
	addr := fakeUPSD(t, map[string]string{
		"LIST VAR ups":  listVars,
		"LIST VAR wait": "BEGIN LIST VAR wait\nVAR wait ups.status \"WAIT\"\nEND LIST VAR wait",
		"LIST VAR gone": "ERR UNKNOWN-UPS",
	})
	vars, err := ReadVars(ctx, addr, "ups")
	if err != nil || vars["ups.status"] != "OB DISCHRG" {
		t.Errorf("ReadVars = %v, %v", vars, err)
	}
	vars, err = ReadVars(ctx, addr, "wait")
	if !errors.Is(err, ErrWait) || !NoReading(err) || vars["ups.status"] != "WAIT" {
		t.Errorf("ReadVars(wait) = %v, %v; want the vars and ErrWait", vars, err)
	}
	_, err = ReadVars(ctx, addr, "gone")
	if !errors.Is(err, ErrUnknownUPS) || NoReading(err) || !strings.Contains(err.Error(), "gone@"+addr) {
		t.Errorf("ReadVars(gone) error = %v, want ErrUnknownUPS naming gone@%s", err, addr)
	}
}

func TestReadVarsRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = ReadVars(context.Background(), addr, "ups")
	if !NoReading(err) {
		t.Errorf("ReadVars to a closed port: error = %v, want NoReading", err)
	}
}

func TestNoReading(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("other"), false},
		{ErrProtocol, false},
		{ErrBadURL, false},
		{fmt.Errorf("x: %w", ErrDataStale), true},
		{fmt.Errorf("x: %w", io.EOF), true},
		{io.ErrUnexpectedEOF, true},
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Err: errors.New("no route")}, true},
	}
	for _, tt := range tests {
		if got := NoReading(tt.err); got != tt.want {
			t.Errorf("NoReading(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestStartTLS(t *testing.T) {
	cert := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		if line, _ := r.ReadString('\n'); line != "STARTTLS\n" {
			return
		}
		io.WriteString(conn, "OK STARTTLS\n")
		tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
		tr := bufio.NewReader(tc)
		if line, _ := tr.ReadString('\n'); line == "GET VAR ups ups.status\n" {
			io.WriteString(tc, "VAR ups ups.status \"OL\"\n")
		}
	}()
	c, err := Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	if err := c.StartTLS(context.Background(), &tls.Config{RootCAs: pool, ServerName: "upsd.test"}); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if v, err := c.GetVar(context.Background(), "ups", "ups.status"); err != nil || v != "OL" {
		t.Errorf("GetVar over TLS = %q, %v; want OL", v, err)
	}
}

func TestStartTLSNotConfigured(t *testing.T) {
	c := dialFake(t, map[string]string{"STARTTLS": "ERR FEATURE-NOT-CONFIGURED"})
	err := c.StartTLS(context.Background(), &tls.Config{ServerName: "x"})
	if !errors.Is(err, ErrFeatureNotConfigured) {
		t.Errorf("StartTLS error = %v, want ErrFeatureNotConfigured", err)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "upsd.test"},
		DNSNames:     []string{"upsd.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
