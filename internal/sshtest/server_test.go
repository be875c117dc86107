package sshtest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// dial connects the way a careful client does: host key from KnownHosts,
// identity from ClientKey.
func dial(t *testing.T, s *Server, user string, signer ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		pem, err := os.ReadFile(s.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		if signer, err = ssh.ParsePrivateKey(pem); err != nil {
			t.Fatalf("ClientKey does not parse: %v", err)
		}
	}
	return ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           5 * time.Second,
	})
}

func mustSFTP(t *testing.T, s *Server) (*ssh.Client, *sftp.Client) {
	t.Helper()
	c, err := dial(t, s, s.User, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	sc, err := sftp.NewClient(c)
	if err != nil {
		c.Close()
		t.Fatalf("sftp: %v", err)
	}
	t.Cleanup(func() { sc.Close(); c.Close() })
	return c, sc
}

func TestStartServesSFTP(t *testing.T) {
	s := start(t, Options{})
	if s.User != DefaultUser {
		t.Errorf("User = %q, want %q", s.User, DefaultUser)
	}
	if h, p := s.Host(), s.Port(); h != "127.0.0.1" || p == "" || p == "0" {
		t.Errorf("Host, Port = %q, %q; want 127.0.0.1 and a port", h, p)
	}
	fi, err := os.Stat(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ClientKey mode = %04o, want 0600", fi.Mode().Perm())
	}
	kh, err := os.ReadFile(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[127.0.0.1]:" + s.Port() + " ssh-ed25519 "; !bytes.HasPrefix(kh, []byte(want)) {
		t.Errorf("known_hosts = %q, want prefix %q", kh, want)
	}

	_, sc := mustSFTP(t, s)
	if _, ok := sc.HasExtension("posix-rename@openssh.com"); !ok {
		t.Error("posix-rename@openssh.com not offered")
	}
	p := filepath.Join(t.TempDir(), "f")
	f, err := sc.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello"))
	f.Close()
	if got, err := os.ReadFile(p); err != nil || string(got) != "hello" {
		t.Errorf("file written over SFTP = %q, %v; want hello (real absolute paths)", got, err)
	}
	st := s.Stats()
	if st.Accepted != 1 || st.Handshakes != 1 || st.Sessions != 1 || st.Requests < 3 || st.Refused != 0 || st.AuthFailures != 0 {
		t.Errorf("Stats = %+v, want 1 accepted, 1 handshake, 1 session, >= 3 requests", st)
	}
}

func TestRefuseBeforeBanner(t *testing.T) {
	s := start(t, Options{RefuseFirst: 2})
	for i := range 2 {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 64))
		c.Close()
		if n != 0 || err == nil {
			t.Fatalf("refused connection %d: read %d bytes, err %v; want 0 bytes and EOF/reset", i, n, err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("refused connection %d was held open, not closed", i)
		}
	}
	mustSFTP(t, s)
	s.SetRefuse(1)
	if _, err := dial(t, s, s.User, nil); err == nil {
		t.Fatal("dial after SetRefuse(1) succeeded")
	}
	mustSFTP(t, s)
	waitStats(t, s, func(st Stats) bool { return st.Accepted == 5 && st.Refused == 3 && st.Handshakes == 2 }, "5 accepted, 3 refused, 2 handshakes")
}

func TestRotateHostKey(t *testing.T) {
	s := start(t, Options{})
	old := s.HostKey()
	if err := s.RotateHostKey(); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(old.Marshal(), s.HostKey().Marshal()) {
		t.Fatal("RotateHostKey kept the key")
	}
	_, err := dial(t, s, s.User, nil)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		t.Fatalf("dial after rotation: %v, want a knownhosts.KeyError naming the old key", err)
	}
}

func TestAuthFailures(t *testing.T) {
	s := start(t, Options{User: "slave"})
	other, err := newSigner()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, s, "slave", other); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := dial(t, s, "root", nil); err == nil {
		t.Error("wrong user accepted")
	}
	// The client may see the refusal before the server has counted it.
	waitStats(t, s, func(st Stats) bool { return st.AuthFailures == 2 && st.Handshakes == 0 }, "2 auth failures, 0 handshakes")
	s.Authorize(other.PublicKey())
	c, err := dial(t, s, "slave", other)
	if err != nil {
		t.Fatalf("authorized key refused: %v", err)
	}
	c.Close()
}

// waitStats waits up to 5 s for the server's counters to satisfy ok.
func waitStats(t *testing.T, s *Server, ok func(Stats) bool, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want %s", s.Stats(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStopRestart(t *testing.T) {
	s := start(t, Options{})
	c, _ := mustSFTP(t, s)
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	s.Stop()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop left the client connection open")
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Fatal("still listening after Stop")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err == nil {
		t.Error("Restart of a running server succeeded")
	}
	mustSFTP(t, s)
	s.Stop()
	s.Stop() // idempotent
}

func TestNoPosixRename(t *testing.T) {
	s := start(t, Options{NoPosixRename: true})
	_, sc := mustSFTP(t, s)
	if _, ok := sc.HasExtension("posix-rename@openssh.com"); ok {
		t.Error("posix-rename@openssh.com offered")
	}
	if _, ok := sc.HasExtension("statvfs@openssh.com"); !ok {
		t.Error("other extensions lost")
	}
	if _, err := sc.Getwd(); err != nil {
		t.Errorf("server unusable after rewriting VERSION: %v", err)
	}
}

func TestDropAfter(t *testing.T) {
	s := start(t, Options{DropAfter: 3})
	c, sc := mustSFTP(t, s)
	dir := t.TempDir()
	for i := range 3 {
		if _, err := sc.Stat(dir); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if _, err := sc.Stat(dir); err == nil {
		t.Fatal("request 4 served, want the connection dropped")
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open")
	}
	waitStats(t, s, func(st Stats) bool { return st.Requests == 4 }, "4 requests")
}

func TestDropConns(t *testing.T) {
	s := start(t, Options{})
	c, _ := mustSFTP(t, s)
	s.DropConns()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("DropConns left the connection open")
	}
	mustSFTP(t, s)
}

func TestPause(t *testing.T) {
	s := start(t, Options{})
	c, _ := mustSFTP(t, s)
	s.Pause()
	s.Pause() // idempotent

	replied := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		replied <- err
	}()
	select {
	case err := <-replied:
		t.Fatalf("paused server answered a keepalive (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}

	raw, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := raw.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Fatalf("paused server sent %d bytes (err %v), want no banner", n, err)
	}

	s.Resume()
	select {
	case err := <-replied:
		if err != nil {
			t.Fatalf("keepalive after Resume: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keepalive reply after Resume")
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := raw.Read(buf); err != nil || string(buf) != "SSH-" {
		t.Fatalf("banner after Resume = %q, %v", buf, err)
	}
}

type fakeEnv struct {
	vars   map[string]string
	defers []func()
}

func (e *fakeEnv) Setenv(k, v string) { e.vars[k] = v }
func (e *fakeEnv) Defer(f func())     { e.defers = append(e.defers, f) }

func TestStartEnv(t *testing.T) {
	e := &fakeEnv{vars: map[string]string{}}
	s, err := StartEnv(e, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SFTP_ADDR": s.Addr, "SFTP_HOST": "127.0.0.1", "SFTP_PORT": s.Port(),
		"SFTP_USER": DefaultUser, "SFTP_KNOWN_HOSTS": s.KnownHosts, "SFTP_IDENTITY": s.ClientKey,
	}
	for k, v := range want {
		if e.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, e.vars[k], v)
		}
	}
	if len(e.defers) != 1 {
		t.Fatalf("%d deferred funcs, want 1 (Stop)", len(e.defers))
	}
	e.defers[0]()
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Error("deferred func did not stop the server")
	}
}

func TestStripExtension(t *testing.T) {
	// Not a VERSION packet: untouched.
	pkt := []byte{0, 0, 0, 5, 1, 0, 0, 0, 3}
	if got := stripExtension(pkt, "x"); !bytes.Equal(got, pkt) {
		t.Errorf("stripExtension(INIT) = %v, want it unchanged", got)
	}
	// Truncated extension data: untouched rather than corrupted.
	bad := []byte{0, 0, 0, 9, 2, 0, 0, 0, 3, 0, 0, 0, 9}
	if got := stripExtension(bad, "x"); !bytes.Equal(got, bad) {
		t.Errorf("stripExtension(truncated) = %v, want it unchanged", got)
	}
}
