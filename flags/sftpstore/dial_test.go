package sftpstore

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nutslave/nutslave/internal/sshtest"
)

func master(t *testing.T, opts sshtest.Options) (*sshtest.Server, Config) {
	t.Helper()
	s, err := sshtest.Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	signer, err := LoadSigner(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, Config{
		Addr:             s.Addr,
		User:             s.User,
		Signer:           signer,
		KnownHosts:       s.KnownHosts,
		DialTimeout:      5 * time.Second,
		HandshakeTimeout: 5 * time.Second,
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDial(t *testing.T) {
	s, cfg := master(t, sshtest.Options{})
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Alive() {
		t.Error("fresh connection not Alive")
	}
	if _, err := c.SFTP.Getwd(); err != nil {
		t.Errorf("SFTP unusable: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if c.Alive() {
		t.Error("closed connection still Alive")
	}
	if st := s.Stats(); st.Handshakes != 1 || st.Sessions != 1 {
		t.Errorf("server Stats = %+v, want one handshake and one SFTP session", st)
	}
}

func TestDialErrors(t *testing.T) {
	other, err := sshtest.Start(t.TempDir(), sshtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other.Stop()
	wrongKey, err := LoadSigner(other.ClientKey)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s *sshtest.Server, cfg *Config)
		want  error
		msg   string
	}{
		{"unknown host key", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			// A known_hosts file that knows another server only.
			cfg.KnownHosts = other.KnownHosts
		}, ErrHostKey, "not in known_hosts"},
		{"empty known_hosts", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(cfg.KnownHosts, nil, 0o644)
		}, ErrHostKey, "not in known_hosts"},
		{"rotated host key", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			if err := s.RotateHostKey(); err != nil {
				t.Fatal(err)
			}
		}, ErrHostKey, "CHANGED"},
		{"wrong client key", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			cfg.Signer = wrongKey
		}, ErrAuth, ""},
		{"wrong user", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			cfg.User = "root"
		}, ErrAuth, ""},
		{"closed before banner", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			s.SetRefuse(1)
		}, ErrBusy, ""},
		{"nothing listening", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			cfg.Addr = freeAddr(t)
		}, ErrUnreachable, ""},
		{"server stopped", func(t *testing.T, s *sshtest.Server, cfg *Config) {
			s.Stop()
		}, ErrUnreachable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, cfg := master(t, sshtest.Options{})
			tc.setup(t, s, &cfg)
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Dial error = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrHostKey, ErrAuth, ErrBusy, ErrUnreachable} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("Dial error %v is also %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Dial error = %q, want it to mention %q", err, tc.msg)
			}
		})
	}
}

func TestDialNoIdentity(t *testing.T) {
	_, cfg := master(t, sshtest.Options{})
	cfg.Signer = nil
	if _, err := Dial(context.Background(), cfg); err == nil {
		t.Fatal("Dial without identity succeeded")
	}
}

func TestDialMissingKnownHosts(t *testing.T) {
	_, cfg := master(t, sshtest.Options{})
	cfg.KnownHosts = filepath.Join(t.TempDir(), "absent")
	_, err := Dial(context.Background(), cfg)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dial with missing known_hosts = %v, want fs.ErrNotExist", err)
	}
}

// silentListener accepts connections and never speaks, like a master
// whose sshd is wedged.
func silentListener(t *testing.T) string { return scriptedListener(t, "", true) }

func TestDialHungHandshake(t *testing.T) {
	_, base := master(t, sshtest.Options{})
	const limit = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		ctx  time.Duration // context deadline; 0 for none
		hs   time.Duration // HandshakeTimeout
	}{
		{"context deadline", limit, 0},
		{"context deadline shorter than HandshakeTimeout", limit, time.Minute},
		{"HandshakeTimeout", 0, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Addr = silentListener(t)
			cfg.HandshakeTimeout = tc.hs
			ctx := context.Background()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}
			start := time.Now()
			c, err := Dial(ctx, cfg)
			took := time.Since(start)
			if err == nil {
				c.Close()
				t.Fatal("Dial to a silent server succeeded")
			}
			if took > limit+2*time.Second {
				t.Errorf("Dial took %v, want about %v", took, limit)
			}
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("Dial error = %v, want ErrUnreachable (not busy: nothing was closed)", err)
			}
		})
	}
}

func TestDialPausedServer(t *testing.T) {
	s, cfg := master(t, sshtest.Options{})
	s.Pause()
	defer s.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if c, err := Dial(ctx, cfg); err == nil {
		c.Close()
		t.Fatal("Dial to a paused server succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Dial took %v, want about 300ms", took)
	}
}

func waitDead(t *testing.T, c *Conn, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for c.Alive() {
		if time.Now().After(deadline) {
			t.Fatalf("connection still Alive after %v", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKeepAlive(t *testing.T) {
	s, cfg := master(t, sshtest.Options{})
	cfg.KeepAlive = 100 * time.Millisecond
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(5 * cfg.KeepAlive)
	if !c.Alive() {
		t.Fatal("keepalives against an answering server marked it dead")
	}
	s.Pause()
	defer s.Resume()
	// One interval to send, one to wait for the answer, plus slack.
	waitDead(t, c, 2*time.Second)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a silent server")
	}
}

func TestConnDiesWithServer(t *testing.T) {
	s, cfg := master(t, sshtest.Options{})
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.DropConns()
	waitDead(t, c, 5*time.Second)
}

func TestLoadSigner(t *testing.T) {
	s, _ := master(t, sshtest.Options{})
	if _, err := LoadSigner(s.ClientKey); err != nil {
		t.Fatalf("LoadSigner(0600 key): %v", err)
	}
	loose := filepath.Join(t.TempDir(), "id")
	pem, _ := os.ReadFile(s.ClientKey)
	if err := os.WriteFile(loose, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(loose); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("LoadSigner(0644 key) = %v, want fs.ErrPermission", err)
	}
	if err := os.Chmod(loose, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(loose); err != nil {
		t.Errorf("LoadSigner(0640 key) = %v, want success (group-readable is allowed)", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	if _, err := LoadSigner(garbage); err == nil {
		t.Error("LoadSigner(garbage) succeeded")
	}
	if _, err := LoadSigner(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadSigner(absent) = %v, want fs.ErrNotExist", err)
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	s, _ := master(t, sshtest.Options{})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	body, _ := os.ReadFile(s.KnownHosts)
	body = append(body, knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, rsaPub)+"\n"...)
	os.WriteFile(kh, body, 0o644)
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	// KNOWN_HOSTS lists the ed25519 key first and an RSA key after it; the
	// order offered is OpenSSH's whatever the file's.
	got := strings.Join(HostKeyAlgorithms(cb, s.Addr), " ")
	if want := "ssh-ed25519 rsa-sha2-512 rsa-sha2-256 ssh-rsa"; got != want {
		t.Errorf("HostKeyAlgorithms = %q, want %q", got, want)
	}
	unknown := HostKeyAlgorithms(cb, "127.0.0.2:22")
	if len(unknown) == 0 || unknown[0] != ssh.KeyAlgoED25519 {
		t.Errorf("HostKeyAlgorithms(unknown host) = %q, want OpenSSH's order, ed25519 first", unknown)
	}
}

// TestDialOffersEd25519First reads the host key algorithms a client offers
// in its KEXINIT, from a listener that speaks just enough SSH to get it:
// ed25519 must come before RSA, for masters (Dropbear) that advertise RSA
// without having an RSA key.
func TestDialOffersEd25519First(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	offered := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "SSH-2.0-kexinit-reader\r\n")
		offered <- clientHostKeyAlgos(c)
	}()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, nil, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go Dial(ctx, Config{Addr: ln.Addr().String(), User: "u", Signer: signer, KnownHosts: kh, HandshakeTimeout: 5 * time.Second})
	select {
	case got := <-offered:
		if !strings.HasPrefix(got, ssh.KeyAlgoED25519+",") {
			t.Errorf("client offered host key algorithms %q, want ssh-ed25519 first", got)
		}
	case <-ctx.Done():
		t.Fatal("no KEXINIT from the client within 10 s")
	}
}

// clientHostKeyAlgos reads the client's banner and its first packet
// (KEXINIT, not encrypted) and returns server_host_key_algorithms.
func clientHostKeyAlgos(r io.Reader) string {
	br := bufio.NewReader(r)
	if _, err := br.ReadString('\n'); err != nil {
		return "(no banner: " + err.Error() + ")"
	}
	var hdr [5]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return "(no packet: " + err.Error() + ")"
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 1 || n > 1<<16 {
		return "(bad packet length)"
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(br, body); err != nil {
		return "(short packet: " + err.Error() + ")"
	}
	payload := body[:len(body)-int(hdr[4])]
	if len(payload) < 17 || payload[0] != 20 { // SSH_MSG_KEXINIT, then a 16-byte cookie
		return "(not KEXINIT)"
	}
	lists := payload[17:]
	var out string
	for i := 0; i < 2; i++ { // kex_algorithms, then server_host_key_algorithms
		if len(lists) < 4 {
			return "(short KEXINIT)"
		}
		l := binary.BigEndian.Uint32(lists[:4])
		if int(l) > len(lists)-4 {
			return "(short KEXINIT)"
		}
		out, lists = string(lists[4:4+l]), lists[4+l:]
	}
	return out
}

// fakeClock is a settable Session clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBackoffBounds(t *testing.T) {
	s := NewSession(Config{})
	s.MinBackoff, s.MaxBackoff = 100*time.Millisecond, time.Second
	for _, tc := range []struct {
		failed int
		hi     time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{4, time.Second},
		{40, time.Second}, // no overflow
	} {
		s.failed = tc.failed
		seen := map[time.Duration]bool{}
		var maxSeen time.Duration
		for range 500 {
			d := s.backoff()
			if d < s.MinBackoff || d > tc.hi {
				t.Fatalf("failed=%d: backoff %v outside [%v, %v]", tc.failed, d, s.MinBackoff, tc.hi)
			}
			seen[d] = true
			maxSeen = max(maxSeen, d)
		}
		if tc.hi > s.MinBackoff {
			if len(seen) < 100 {
				t.Errorf("failed=%d: only %d distinct waits in 500, want jitter", tc.failed, len(seen))
			}
			// The upper part of the range is reached: the wait grows.
			if maxSeen < s.MinBackoff+(tc.hi-s.MinBackoff)*3/4 {
				t.Errorf("failed=%d: longest wait %v, want close to %v", tc.failed, maxSeen, tc.hi)
			}
		}
	}
}

func TestSessionBackoffAndReconnect(t *testing.T) {
	srv, cfg := master(t, sshtest.Options{RefuseFirst: 2})
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := NewSession(cfg)
	s.now = clk.now
	s.MinBackoff, s.MaxBackoff = time.Second, 8*time.Second
	defer s.Close()
	ctx := context.Background()

	// Attempt 1: refused before the banner.
	if _, err := s.Client(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("Client #1 = %v, want ErrBusy", err)
	}
	wait1 := s.NextTry().Sub(clk.t)
	if wait1 < time.Second || wait1 > 2*time.Second {
		t.Errorf("first wait %v, want within [1s, 2s]", wait1)
	}
	// Within the back-off: no dial, the last error is kept.
	_, err := s.Client(ctx)
	if !errors.Is(err, ErrBackoff) || !errors.Is(err, ErrBusy) {
		t.Errorf("Client during back-off = %v, want ErrBackoff wrapping ErrBusy", err)
	}
	if s.Dials != 1 {
		t.Errorf("Dials = %d during back-off, want 1", s.Dials)
	}
	// Attempt 2: refused again, a wider window.
	clk.t = s.NextTry()
	if _, err := s.Client(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("Client #2 = %v, want ErrBusy", err)
	}
	if wait2 := s.NextTry().Sub(clk.t); wait2 < time.Second || wait2 > 4*time.Second {
		t.Errorf("second wait %v, want within [1s, 4s]", wait2)
	}
	// Attempt 3 gets in.
	clk.t = s.NextTry()
	c1, err := s.Client(ctx)
	if err != nil {
		t.Fatalf("Client #3: %v", err)
	}
	if s.Dials != 3 || s.Connects != 1 {
		t.Errorf("Dials, Connects = %d, %d; want 3, 1", s.Dials, s.Connects)
	}
	// A live connection is reused.
	if c, err := s.Client(ctx); err != nil || c != c1 || s.Dials != 3 {
		t.Errorf("Client on a live connection redialled (Dials %d, err %v)", s.Dials, err)
	}

	// The master goes away: the connection dies and dials fail.
	srv.Stop()
	waitDead(t, s.conn, 5*time.Second)
	if _, err := s.Client(ctx); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Client with the master down = %v, want ErrUnreachable", err)
	}
	if w := s.NextTry().Sub(clk.t); w < time.Second || w > 2*time.Second {
		t.Errorf("wait after a success then a failure = %v, want the back-off reset to [1s, 2s]", w)
	}
	// It comes back on the same address.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	clk.t = s.NextTry()
	c2, err := s.Client(ctx)
	if err != nil {
		t.Fatalf("Client after Restart: %v", err)
	}
	if c2 == c1 {
		t.Error("Client returned the dead client")
	}
	if s.Dials != 5 || s.Connects != 2 {
		t.Errorf("Dials, Connects = %d, %d; want 5, 2", s.Dials, s.Connects)
	}
	if _, err := c2.Getwd(); err != nil {
		t.Errorf("reconnected client unusable: %v", err)
	}

	// Broken forces a new connection on the next call.
	s.Broken()
	if _, err := s.Client(ctx); err != nil || s.Connects != 3 {
		t.Errorf("Client after Broken = %v, Connects %d; want a new connection", err, s.Connects)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// scriptedListener accepts connections, writes say, and then closes (or,
// with hang, keeps the connection open without another word).
func scriptedListener(t *testing.T, say string, hang bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(say))
			if hang {
				conns = append(conns, c)
			} else {
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestDialBusyMaster: what sshd does to a fleet past MaxStartups, and a
// master too loaded to finish the key exchange, show a master alive and
// busy; neither may start the DEADTIME fail-safe clock.
func TestDialBusyMaster(t *testing.T) {
	_, base := master(t, sshtest.Options{})
	for _, tc := range []struct {
		name string
		say  string
		hang bool
		want error
	}{
		{"closed with no word", "", false, ErrBusy},
		{"OpenSSH past MaxStartups", "Exceeded MaxStartups\r\n", false, ErrBusy},
		{"banner, then closed", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n", false, ErrBusy},
		{"banner, then too slow", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n", true, ErrBusy},
		{"silent: nothing at all", "", true, ErrUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Addr = scriptedListener(t, tc.say, tc.hang)
			cfg.HandshakeTimeout = 300 * time.Millisecond
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Dial error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDialSFTPTooSlowIsBusy: a master that finished the handshake and took
// our key, then did not start SFTP in time, is alive: busy, not
// unreachable (the fleet benchmark saw 39 of 200 slaves log this as
// unreachable).
func TestDialSFTPTooSlowIsBusy(t *testing.T) {
	_, cfg := master(t, sshtest.Options{StallSFTP: true})
	cfg.HandshakeTimeout = 300 * time.Millisecond
	c, err := Dial(context.Background(), cfg)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with SFTP stalled")
	}
	if !errors.Is(err, ErrBusy) {
		t.Errorf("Dial error = %v, want ErrBusy", err)
	}
}

// TestDialSlowAfterBanner: a loaded sshd sends its banner late and the
// rest slowly; from the banner it has HandshakeTimeout again, so a master
// that keeps answering is not abandoned halfway (which wastes its work and
// sends the slave to the back of its queue).
func TestDialSlowAfterBanner(t *testing.T) {
	s, cfg := master(t, sshtest.Options{})
	// The banner after 1 s, everything after it another 0.8 s later:
	// 1.8 s in all, more than one HandshakeTimeout, well within two.
	cfg.Addr = slowProxy(t, cfg.Addr, time.Second, 800*time.Millisecond)
	cfg.HandshakeTimeout = 1500 * time.Millisecond
	cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(cfg.Addr)}, s.HostKey()) + "\n"
	if err := os.WriteFile(cfg.KnownHosts, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial through a slow but answering master: %v", err)
	}
	c.Close()
}

// slowProxy forwards to addr, holding the server's first line (the banner)
// for first and what follows it for then.
func slowProxy(t *testing.T, addr string, first, then time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", addr)
			if err != nil {
				client.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(server, client); server.Close() }()
			go func() {
				defer wg.Done()
				defer client.Close()
				r := bufio.NewReader(server)
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				time.Sleep(first)
				client.Write(line)
				time.Sleep(then)
				io.Copy(client, r)
			}()
		}
	}()
	return ln.Addr().String()
}
