package sftpstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Errors from [Dial], by what they say about the master.
var (
	// ErrHostKey means the master's host key is not in KNOWN_HOSTS or
	// differs from it. Never ignored: run `upsslave trust` after checking
	// the fingerprint.
	ErrHostKey = errors.New("master host key not trusted")
	// ErrAuth means the master refused our key.
	ErrAuth = errors.New("master refused the ssh key")
	// ErrBusy means the master is alive but busy: it accepted the TCP
	// connection and closed it before sending its banner, as sshd does
	// past MaxStartups, or it answered but did not finish the handshake
	// or start SFTP in time.
	ErrBusy = errors.New("master alive but busy")
	// ErrUnreachable means no TCP connection could be made, or it died.
	ErrUnreachable = errors.New("master unreachable")
)

// Config says how to reach the master.
type Config struct {
	Addr       string // host:port
	User       string
	Signer     ssh.Signer
	KnownHosts string // path of the known_hosts file
	// DialTimeout bounds the TCP connect. HandshakeTimeout bounds the wait
	// for the SSH banner, and then, from the banner, the rest of the
	// handshake and the SFTP start.
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	// KeepAlive is the interval of keepalive@openssh.com requests; a
	// request not answered within one interval closes the connection.
	KeepAlive time.Duration
}

// Conn is one SSH connection with an SFTP session on it.
type Conn struct {
	SFTP *sftp.Client
	ssh  *ssh.Client
	done chan struct{}
	dead atomic.Bool
}

// LocalAddr is this end of the connection: the address the master sees
// us from, on the link we reach it through.
func (c *Conn) LocalAddr() net.Addr { return c.ssh.LocalAddr() }

// Alive reports whether the connection has not been seen to fail.
func (c *Conn) Alive() bool { return !c.dead.Load() }

// Close closes the SFTP session and the connection.
func (c *Conn) Close() error {
	c.dead.Store(true)
	c.SFTP.Close()
	err := c.ssh.Close()
	<-c.done
	return err
}

// LoadSigner reads a private key file. A key readable by others than its
// owner and group is refused, as OpenSSH refuses it.
func LoadSigner(path string) (ssh.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("identity %s: mode %04o is readable by others: %w", path, fi.Mode().Perm(), fs.ErrPermission)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return s, nil
}

// PreferredHostKeyAlgorithms are the host key algorithms in OpenSSH's
// order of preference: ed25519 first, then ECDSA, then RSA with SHA-2.
// Dropbear (small NUT masters: OpenWrt, Pi images) advertises RSA even
// when it has only an ed25519 key, and gives up on a client that picks
// RSA; x/crypto's own default list puts RSA first.
var PreferredHostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// HostKeyAlgorithms returns the key algorithms KNOWN_HOSTS holds for addr,
// in [PreferredHostKeyAlgorithms]' order, so the handshake asks the
// master for a key we can check; for a host KNOWN_HOSTS does not know
// (upsslave trust), all of PreferredHostKeyAlgorithms.
func HostKeyAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	// Offer the callback a throwaway key: its KeyError lists the known
	// keys for addr.
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	err := cb(addr, tcp, probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return slices.Clone(PreferredHostKeyAlgorithms)
	}
	known := map[string]bool{}
	for _, k := range ke.Want {
		known[k.Key.Type()] = true
	}
	var algos []string
	for _, a := range PreferredHostKeyAlgorithms {
		if known[a] || (known[ssh.KeyAlgoRSA] && (a == ssh.KeyAlgoRSASHA512 || a == ssh.KeyAlgoRSASHA256)) {
			algos = append(algos, a)
		}
	}
	// Then what the list above does not name (ssh-rsa with SHA-1 for an
	// old master, security-key types), in KNOWN_HOSTS' order.
	for _, k := range ke.Want {
		if t := k.Key.Type(); !slices.Contains(algos, t) {
			algos = append(algos, t)
		}
	}
	return algos
}

// Dial makes one attempt to connect: TCP within DialTimeout, the SSH
// banner within HandshakeTimeout, the rest of the handshake and the SFTP
// start within HandshakeTimeout of the banner, the host key checked against
// KnownHosts. Errors wrap [ErrHostKey], [ErrAuth], [ErrBusy] or
// [ErrUnreachable].
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Signer == nil {
		return nil, errors.New("dial: no identity")
	}
	cb, err := knownhosts.New(cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	dialCtx := ctx
	if cfg.DialTimeout > 0 {
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
	}
	var d net.Dialer
	raw, err := d.DialContext(dialCtx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	nc := &bannerConn{Conn: raw}
	if cfg.HandshakeTimeout > 0 {
		// HandshakeTimeout for the banner, and again from the banner for
		// the rest: a loaded sshd that has answered is given the time
		// to finish, rather than left with a half-done exchange whose
		// work is lost and must start again at the back of its queue.
		nc.setDeadline(time.Now().Add(cfg.HandshakeTimeout))
		nc.onBanner = func() { nc.setDeadline(time.Now().Add(cfg.HandshakeTimeout)) }
	}
	// A context ending mid-handshake closes the socket.
	stop := context.AfterFunc(ctx, func() { nc.ours.Store(true); nc.Close() })
	defer stop()

	clientCfg := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: HostKeyAlgorithms(cb, cfg.Addr),
		Timeout:           cfg.DialTimeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, cfg.Addr, clientCfg)
	if err != nil {
		nc.Close()
		return nil, classify(err, nc.banner.Load(), nc.ours.Load())
	}
	client := ssh.NewClient(sc, chans, reqs)
	sftpc, err := sftp.NewClient(client)
	if err != nil {
		client.Close()
		if nc.ours.Load() || nc.pastDeadline() {
			// The master finished the handshake and took our key: alive,
			// only too slow to start SFTP in time.
			return nil, fmt.Errorf("%w: sftp did not start in time: %v", ErrBusy, err)
		}
		return nil, fmt.Errorf("%w: start sftp: %v", ErrUnreachable, err)
	}
	nc.setDeadline(time.Time{})
	c := &Conn{SFTP: sftpc, ssh: client, done: make(chan struct{})}
	go c.watch(cfg.KeepAlive)
	return c, nil
}

// watch marks the connection dead when it ends, and sends keepalives.
func (c *Conn) watch(every time.Duration) {
	defer close(c.done)
	waitDone := make(chan struct{})
	go func() { c.ssh.Wait(); c.dead.Store(true); close(waitDone) }()
	if every <= 0 {
		<-waitDone
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-waitDone:
			return
		case <-t.C:
			answered := make(chan error, 1)
			go func() {
				_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
				answered <- err
			}()
			select {
			case err := <-answered:
				if err == nil {
					continue
				}
			case <-time.After(every):
			case <-waitDone:
				return
			}
			c.dead.Store(true)
			c.ssh.Close()
		}
	}
}

// classify sorts a failed handshake by what it says about the master.
// banner is whether the server had sent its SSH banner; ours, whether our
// own deadline closed the connection (which says nothing of the server but
// that it was too slow).
func classify(err error, banner, ours bool) error {
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &ke):
		if len(ke.Want) == 0 {
			return fmt.Errorf("%w: host key is not in known_hosts: %v", ErrHostKey, err)
		}
		return fmt.Errorf("%w: HOST KEY CHANGED, possible man-in-the-middle: %v", ErrHostKey, err)
	case errors.As(err, &re):
		return fmt.Errorf("%w: host key is revoked: %v", ErrHostKey, err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("%w: %v", ErrAuth, err)
	case ours && !banner:
		return fmt.Errorf("%w: no ssh banner before the deadline: %v", ErrUnreachable, err)
	case !banner && (errors.Is(err, io.EOF) || isReset(err)):
		// sshd past MaxStartups closes at once, after an "Exceeded
		// MaxStartups" line that is not a banner.
		return fmt.Errorf("%w: connection closed before the ssh banner: %v", ErrBusy, err)
	case banner && (ours || errors.Is(err, io.EOF) || isReset(err) || isTimeout(err)):
		// sshd answered, then gave up or was too slow to finish the key
		// exchange: a loaded master, not a dead one.
		return fmt.Errorf("%w: handshake did not complete: %v", ErrBusy, err)
	}
	return fmt.Errorf("%w: %v", ErrUnreachable, err)
}

// isReset reports a connection the server ended: reset, broken pipe, or
// closed by the SSH library after a failed write.
func isReset(err error) bool {
	s := err.Error()
	return errors.Is(err, net.ErrClosed) || strings.Contains(s, "connection reset") ||
		strings.Contains(s, "broken pipe") || strings.Contains(s, "use of closed network connection")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "i/o timeout")
}

// bannerConn watches the first bytes the server sends, to tell "closed
// before the SSH banner" (busy) from failures later in the handshake.
type bannerConn struct {
	net.Conn
	mu       sync.Mutex
	head     []byte
	banner   atomic.Bool
	ours     atomic.Bool  // closed by our context
	deadline atomic.Int64 // UnixNano of the deadline set; 0 for none
	onBanner func()       // called once, when the banner arrives
}

func (c *bannerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.banner.Load() {
		c.mu.Lock()
		if len(c.head) < 1024 {
			c.head = append(c.head, p[:min(n, 1024-len(c.head))]...)
		}
		// The banner line starts with "SSH-"; other lines may precede it.
		if bytes.HasPrefix(c.head, []byte("SSH-")) || bytes.Contains(c.head, []byte("\nSSH-")) {
			c.banner.Store(true)
			if c.onBanner != nil {
				c.onBanner()
			}
		}
		c.mu.Unlock()
	}
	return n, err
}

// setDeadline sets the connection's deadline and remembers it.
func (c *bannerConn) setDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
	c.Conn.SetDeadline(t)
}

// pastDeadline reports whether the deadline set has passed.
func (c *bannerConn) pastDeadline() bool {
	d := c.deadline.Load()
	return d != 0 && time.Now().UnixNano() >= d
}

// Session keeps one connection to the master across polls and reconnects
// with jittered exponential back-off after a failure. It is not safe for
// concurrent use.
type Session struct {
	cfg     Config
	conn    *Conn
	failed  int
	nextTry time.Time
	lastErr error
	// Dials counts connection attempts; Connects successful ones.
	Dials, Connects int
	// MinBackoff and MaxBackoff bound the wait between attempts.
	MinBackoff, MaxBackoff time.Duration
	now                    func() time.Time
	mu                     sync.Mutex
}

// NewSession returns a session that dials on first use.
func NewSession(cfg Config) *Session {
	return &Session{cfg: cfg, MinBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, now: time.Now}
}

// ErrBackoff wraps the last dial error while the session waits before its
// next attempt.
var ErrBackoff = errors.New("waiting before the next attempt")

// Client returns a live SFTP client, dialling if there is none and the
// back-off allows. Between attempts it returns the last error wrapped in
// [ErrBackoff].
func (s *Session) Client(ctx context.Context) (*sftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.conn.Alive() {
		return s.conn.SFTP, nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if now := s.now(); now.Before(s.nextTry) {
		return nil, fmt.Errorf("%w (%v): %w", ErrBackoff, s.nextTry.Sub(now).Round(time.Millisecond), s.lastErr)
	}
	s.Dials++
	c, err := Dial(ctx, s.cfg)
	if err != nil {
		s.failed++
		s.lastErr = err
		s.nextTry = s.now().Add(s.backoff())
		return nil, err
	}
	s.Connects++
	s.failed = 0
	s.conn = c
	return c.SFTP, nil
}

// Retry lets the next Client call dial at once, whatever the back-off.
func (s *Session) Retry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTry = time.Time{}
}

// NextTry is when the session will dial again after a failure.
func (s *Session) NextTry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextTry
}

// backoff is "full jitter": uniform in [min, min(max, min*2^failed)], so a
// fleet refused together does not come back together.
func (s *Session) backoff() time.Duration {
	hi := s.MinBackoff << min(s.failed, 16)
	if hi > s.MaxBackoff || hi <= 0 {
		hi = s.MaxBackoff
	}
	if hi <= s.MinBackoff {
		return s.MinBackoff
	}
	return s.MinBackoff + rand.N(hi-s.MinBackoff)
}

// Broken tells the session its connection failed an operation; the next
// Client call reconnects.
func (s *Session) Broken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection, if any.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
