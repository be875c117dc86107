// Package sshtest runs an in-process SSH server with an SFTP subsystem on
// loopback, standing in for the nutslave master in tests.
//
// The server generates an ed25519 host key and an ed25519 client key, writes
// the client key and a known_hosts file into a directory of the caller's
// choice, and serves the host's real file system over SFTP (paths are the
// host's absolute paths; there is no chroot). It can misbehave on purpose
// the way a loaded or broken master does: close connections before the
// banner (sshd past MaxStartups), present a new host key, stop answering,
// drop connections, or lack posix-rename@openssh.com.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultUser is the account name the server accepts when [Options.User]
// is empty.
const DefaultUser = "nutslave"

// Options change how a [Server] behaves. The zero value is a well-behaved
// server for user "nutslave".
type Options struct {
	// User is the only account name accepted; default "nutslave".
	User string
	// RefuseFirst closes the first RefuseFirst TCP connections right after
	// accepting them, before the SSH banner, as sshd does past MaxStartups.
	RefuseFirst int
	// DropAfter, when positive, closes a connection when its client sends
	// SFTP request number DropAfter+1 (the INIT exchange is not counted):
	// the first DropAfter requests are served, the next one is not.
	DropAfter int
	// NoPosixRename hides posix-rename@openssh.com from the SFTP version
	// exchange, like a server without OpenSSH's extensions.
	NoPosixRename bool
	// StallSFTP accepts the sftp subsystem and then never answers, like a
	// master too loaded to start sftp-server.
	StallSFTP bool
}

// Stats counts what the server has seen since [Start].
type Stats struct {
	// Accepted counts TCP connections accepted, including refused ones.
	Accepted int
	// Refused counts connections closed before the banner.
	Refused int
	// Handshakes counts SSH handshakes that completed with authentication.
	Handshakes int
	// AuthFailures counts connections whose handshake failed after the
	// client offered a key the server refused.
	AuthFailures int
	// Sessions counts SFTP subsystems started.
	Sessions int
	// Requests counts SFTP requests received, INIT excluded.
	Requests int
}

// Server is a running test SSH+SFTP server.
type Server struct {
	// Addr is 127.0.0.1:port; it stays the same across [Server.Restart].
	Addr string
	// KnownHosts is the path of a known_hosts file holding the server's
	// first host key for [127.0.0.1]:port.
	KnownHosts string
	// ClientKey is the path of an OpenSSH ed25519 private key file, mode
	// 0600, that the server accepts; ClientKey+".pub" holds its public key.
	ClientKey string
	// User is the account name the server accepts.
	User string

	opts         Options
	clientSigner ssh.Signer

	mu         sync.Mutex
	ln         net.Listener
	hostSigner ssh.Signer
	authorized map[string]bool // marshalled public keys
	conns      map[*gateConn]struct{}
	refuse     int
	paused     chan struct{} // non-nil and open while paused
	stats      Stats
	wg         sync.WaitGroup
}

// Start generates keys, writes ClientKey, ClientKey.pub and KnownHosts into
// dir (created if needed), and listens on a free port of 127.0.0.1.
func Start(dir string, opts Options) (*Server, error) {
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	host, err := newSigner()
	if err != nil {
		return nil, err
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	client, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	s := &Server{
		User:         opts.User,
		ClientKey:    filepath.Join(dir, "id_ed25519"),
		KnownHosts:   filepath.Join(dir, "known_hosts"),
		opts:         opts,
		clientSigner: client,
		hostSigner:   host,
		authorized:   map[string]bool{string(client.PublicKey().Marshal()): true},
		conns:        map[*gateConn]struct{}{},
		refuse:       opts.RefuseFirst,
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "sshtest client key")
	if err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	if err := os.WriteFile(s.ClientKey, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	if err := os.WriteFile(s.ClientKey+".pub", ssh.MarshalAuthorizedKey(client.PublicKey()), 0o644); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sshtest: listen: %w", err)
	}
	s.Addr = ln.Addr().String()
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, host.PublicKey())
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o644); err != nil {
		ln.Close()
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	s.serve(ln)
	return s, nil
}

func newSigner() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshtest: host key: %w", err)
	}
	sg, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sshtest: host key: %w", err)
	}
	return sg, nil
}

// Host returns the server's IP address, "127.0.0.1".
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port returns the server's TCP port as a string.
func (s *Server) Port() string { _, p, _ := net.SplitHostPort(s.Addr); return p }

// ClientSigner returns the signer of the key in ClientKey.
func (s *Server) ClientSigner() ssh.Signer { return s.clientSigner }

// HostKey returns the host key the server presents now.
func (s *Server) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostSigner.PublicKey()
}

// Authorize makes the server accept another client key as well.
func (s *Server) Authorize(pub ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized[string(pub.Marshal())] = true
}

// RotateHostKey makes the server present a new host key to connections
// accepted from now on. KnownHosts keeps the old key, so careful clients
// must refuse to connect.
func (s *Server) RotateHostKey() error {
	sg, err := newSigner()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.hostSigner = sg
	s.mu.Unlock()
	return nil
}

// SetRefuse makes the server close the next n connections before the
// banner (replacing any count still pending).
func (s *Server) SetRefuse(n int) {
	s.mu.Lock()
	s.refuse = n
	s.mu.Unlock()
}

// Pause makes the server stop answering without closing anything, like a
// master behind a silent partition: established connections neither read
// nor write, and new connections are accepted but get no banner.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused == nil {
		s.paused = make(chan struct{})
	}
}

// Resume undoes [Server.Pause].
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused != nil {
		close(s.paused)
		s.paused = nil
	}
}

// DropConns closes every established connection; the server keeps
// listening.
func (s *Server) DropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Stop stops listening, closes every connection and waits for the
// server's goroutines. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Restart listens again on the same Addr after [Server.Stop].
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.ln != nil
	s.mu.Unlock()
	if running {
		return errors.New("sshtest: restart: server is running")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("sshtest: restart: %w", err)
	}
	s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.stats.Accepted++
			if s.refuse > 0 {
				s.refuse--
				s.stats.Refused++
				s.mu.Unlock()
				nc.Close()
				continue
			}
			c := &gateConn{Conn: nc, srv: s, closed: make(chan struct{})}
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				s.handle(c)
			}()
		}
	}()
}

func (s *Server) handle(c *gateConn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	// Hold a connection accepted while paused before the banner.
	if !c.wait() {
		return
	}
	var refused atomic.Bool
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			ok := s.authorized[string(key.Marshal())]
			s.mu.Unlock()
			if meta.User() != s.User || !ok {
				refused.Store(true)
				return nil, fmt.Errorf("sshtest: key %s for user %q not authorized", ssh.FingerprintSHA256(key), meta.User())
			}
			return nil, nil
		},
	}
	s.mu.Lock()
	cfg.AddHostKey(s.hostSigner)
	s.mu.Unlock()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		if refused.Load() {
			s.count(func(st *Stats) { st.AuthFailures++ })
		}
		return
	}
	defer sc.Close()
	s.count(func(st *Stats) { st.Handshakes++ })
	go ssh.DiscardRequests(reqs) // keepalive@openssh.com gets a "false" reply
	var wg sync.WaitGroup
	defer wg.Wait()
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(c, ch, chReqs)
		}()
	}
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// session serves one session channel: the sftp subsystem only.
func (s *Server) session(c *gateConn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		ok := req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
		if !ok {
			req.Reply(false, nil)
			continue
		}
		s.count(func(st *Stats) { st.Sessions++ })
		req.Reply(true, nil)
		if s.opts.StallSFTP {
			ssh.DiscardRequests(reqs) // until the client gives up
			return
		}
		go ssh.DiscardRequests(reqs)
		rw := &sftpWire{
			ch:            ch,
			noPosixRename: s.opts.NoPosixRename,
			onRequest: func(n int) bool {
				s.count(func(st *Stats) { st.Requests++ })
				if s.opts.DropAfter > 0 && n > s.opts.DropAfter {
					c.Close()
					return false
				}
				return true
			},
		}
		srv, err := sftp.NewServer(rw)
		if err != nil {
			return
		}
		if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
			srv.Close()
		}
		return
	}
}

// gateConn is a server-side connection that [Server.Pause] can freeze.
type gateConn struct {
	net.Conn
	srv       *Server
	closeOnce sync.Once
	closed    chan struct{}
}

// wait blocks while the server is paused; false means the connection
// closed meanwhile.
func (c *gateConn) wait() bool {
	for {
		c.srv.mu.Lock()
		p := c.srv.paused
		c.srv.mu.Unlock()
		if p == nil {
			select {
			case <-c.closed:
				return false
			default:
				return true
			}
		}
		select {
		case <-p:
		case <-c.closed:
			return false
		}
	}
}

func (c *gateConn) Read(b []byte) (int, error) {
	if !c.wait() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(b)
	if n > 0 && !c.wait() {
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *gateConn) Write(b []byte) (int, error) {
	if !c.wait() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func (c *gateConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}
