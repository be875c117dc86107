package nut

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds a dial or a request when neither the Client's
// Timeout nor the context sets a shorter deadline.
const DefaultTimeout = 5 * time.Second

const (
	maxLine      = 64 << 10 // longest reply line accepted
	maxListItems = 10000    // longest LIST reply accepted
)

// A Client is one connection to upsd. Its methods may be called from several
// goroutines; requests are serialised. After an I/O or protocol error the
// connection is closed and every later call returns an error wrapping
// ErrClosed, because the position in the reply stream is lost.
type Client struct {
	// Timeout bounds each request (write and complete reply). Zero means
	// DefaultTimeout. A context deadline that comes sooner wins.
	Timeout time.Duration

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	broken error
}

// Dial connects to upsd at addr ("host:port"). The dial is bound to ctx and,
// when ctx has no deadline, to DefaultTimeout.
func Dial(ctx context.Context, addr string) (*Client, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nut: %w", err) // "dial tcp ADDR: ..." names the address
	}
	return NewClient(conn), nil
}

// NewClient returns a Client speaking the protocol over conn, which it owns.
func NewClient(conn net.Conn) *Client {
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
}

// Close closes the connection. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil
	}
	c.broken = ErrClosed
	return c.conn.Close()
}

// Version returns upsd's reply to VER, e.g.
// "Network UPS Tools upsd 2.8.0 - https://www.networkupstools.org/".
func (c *Client) Version(ctx context.Context) (string, error) {
	var v string
	err := c.do(ctx, "VER", func() error {
		line, err := c.readReply()
		v = line
		return err
	})
	return v, err
}

// ProtocolVersion returns the protocol version, e.g. "1.3". It asks PROTVER
// and falls back to NETVER for upsd older than 2.8.0.
func (c *Client) ProtocolVersion(ctx context.Context) (string, error) {
	var v string
	read := func() error {
		line, err := c.readReply()
		v = line
		return err
	}
	err := c.do(ctx, "PROTVER", read)
	if errors.Is(err, ErrUnknownCommand) {
		err = c.do(ctx, "NETVER", read)
	}
	return v, err
}

// Authenticate sends USERNAME and PASSWORD. upsd checks them only when a
// command needs a privilege, so a wrong password is reported then.
func (c *Client) Authenticate(ctx context.Context, user, password string) error {
	if err := c.do(ctx, "USERNAME "+token(user), c.expectOK); err != nil {
		return err
	}
	return c.do(ctx, "PASSWORD "+token(password), c.expectOK)
}

// StartTLS upgrades the connection with STARTTLS. cfg must name the server
// (ServerName) or carry a verification policy; it is used as given.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	return c.do(ctx, "STARTTLS", func() error {
		toks, err := c.readTokens()
		if err != nil {
			return err
		}
		if len(toks) < 2 || toks[0] != "OK" || toks[1] != "STARTTLS" {
			return unexpected("OK STARTTLS", toks)
		}
		if c.r.Buffered() > 0 {
			return fmt.Errorf("%w: data after OK STARTTLS", ErrProtocol)
		}
		tc := tls.Client(c.conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c.conn = tc
		c.r = bufio.NewReaderSize(tc, 4096)
		return nil
	})
}

// ListUPS returns the UPS names upsd serves, mapped to their descriptions.
func (c *Client) ListUPS(ctx context.Context) (map[string]string, error) {
	m := make(map[string]string)
	err := c.do(ctx, "LIST UPS", func() error {
		return c.readList([]string{"UPS"}, 3, func(t []string) { m[t[1]] = t[2] })
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ListVars returns every variable of ups, e.g. "ups.status" → "OB LB".
func (c *Client) ListVars(ctx context.Context, ups string) (map[string]string, error) {
	m := make(map[string]string)
	err := c.do(ctx, "LIST VAR "+token(ups), func() error {
		return c.readList([]string{"VAR", ups}, 4, func(t []string) { m[t[2]] = t[3] })
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// GetVar returns one variable of ups.
func (c *Client) GetVar(ctx context.Context, ups, name string) (string, error) {
	var v string
	err := c.do(ctx, "GET VAR "+token(ups)+" "+token(name), func() error {
		toks, err := c.readTokens()
		if err != nil {
			return err
		}
		if len(toks) != 4 || toks[0] != "VAR" || toks[1] != ups || toks[2] != name {
			return unexpected("VAR "+ups+" "+name+" <value>", toks)
		}
		v = toks[3]
		return nil
	})
	return v, err
}

// SetVar sets a writable variable of ups (SET VAR). It needs a user with the
// SET action, see Authenticate.
func (c *Client) SetVar(ctx context.Context, ups, name, value string) error {
	return c.do(ctx, "SET VAR "+token(ups)+" "+token(name)+" "+Quote(value), c.expectOK)
}

// do sends one request line and reads its reply with read, under the
// request deadline. I/O and protocol errors break the client.
func (c *Client) do(ctx context.Context, req string, read func() error) error {
	if strings.ContainsAny(req, "\r\n\x00") {
		return fmt.Errorf("nut: %s: request contains a line break or NUL", quoteForLog(req))
	}
	verb := req // names the request in errors
	if strings.HasPrefix(req, "PASSWORD") {
		verb = "PASSWORD" // never echo the secret
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("nut: %s: %w", verb, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nut: %s: %w", verb, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return c.fail(ctx, verb, err)
	}
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte(req + "\n")); err != nil {
		return c.fail(ctx, verb, err)
	}
	err := read()
	var perr *Error
	if err == nil || errors.As(err, &perr) {
		// A complete reply: the stream is still in step.
		if err != nil {
			return fmt.Errorf("nut: %s: %w", verb, err)
		}
		return nil
	}
	return c.fail(ctx, verb, err)
}

// fail closes the broken connection and returns err with context; a
// cancelled or expired ctx is reported as such.
func (c *Client) fail(ctx context.Context, verb string, err error) error {
	c.conn.Close()
	c.broken = fmt.Errorf("%w after an earlier error: %v", ErrClosed, err)
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) {
		// The connection deadline, set from ctx, fired just before ctx's timer.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		return fmt.Errorf("nut: %s: %w (%v)", verb, cerr, err)
	}
	return fmt.Errorf("nut: %s: %w", verb, err)
}

// readLine reads one reply line without its line ending.
func (c *Client) readLine() (string, error) {
	var buf []byte
	for {
		frag, err := c.r.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxLine {
			return "", fmt.Errorf("%w: reply line longer than %d bytes", ErrProtocol, maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r"), nil
	}
}

// readReply reads one line and turns an ERR reply into an *Error.
func (c *Client) readReply() (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	if line == "ERR" || strings.HasPrefix(line, "ERR ") {
		toks, err := ParseLine(line)
		if err != nil {
			return "", err
		}
		return "", errorReply(toks)
	}
	return line, nil
}

// readTokens reads one line, maps ERR replies, and tokenises the rest.
func (c *Client) readTokens() ([]string, error) {
	line, err := c.readReply()
	if err != nil {
		return nil, err
	}
	toks, err := ParseLine(line)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: empty reply line", ErrProtocol)
	}
	return toks, nil
}

func (c *Client) expectOK() error {
	toks, err := c.readTokens()
	if err != nil {
		return err
	}
	if toks[0] != "OK" {
		return unexpected("OK", toks)
	}
	return nil
}

// readList reads "BEGIN LIST <kind…>", items "<prefix…> …" with exactly n
// tokens, and "END LIST <kind…>".
func (c *Client) readList(prefix []string, n int, item func([]string)) error {
	kind := strings.Join(prefix, " ")
	toks, err := c.readTokens()
	if err != nil {
		return err
	}
	if strings.Join(toks, " ") != "BEGIN LIST "+kind {
		return unexpected("BEGIN LIST "+kind, toks)
	}
	for i := 0; ; i++ {
		if i > maxListItems {
			return fmt.Errorf("%w: LIST %s has more than %d items", ErrProtocol, kind, maxListItems)
		}
		toks, err := c.readTokens()
		if err != nil {
			return err
		}
		if toks[0] == "END" {
			if strings.Join(toks, " ") != "END LIST "+kind {
				return unexpected("END LIST "+kind, toks)
			}
			return nil
		}
		if len(toks) != n || !hasPrefix(toks, prefix) {
			return unexpected(kind+" …", toks)
		}
		item(toks)
	}
}

func hasPrefix(toks, prefix []string) bool {
	for i, p := range prefix {
		if toks[i] != p {
			return false
		}
	}
	return true
}

// errorReply maps the tokens of an ERR line onto an *Error.
func errorReply(toks []string) error {
	if len(toks) < 2 || toks[1] == "" {
		return fmt.Errorf("%w: ERR without a code", ErrProtocol)
	}
	return &Error{Code: toks[1], Detail: strings.Join(toks[2:], " ")}
}

func unexpected(want string, got []string) error {
	line := strings.Join(got, " ")
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return fmt.Errorf("%w: got %s, want %s", ErrProtocol, quoteForLog(line), want)
}

// token renders a request argument: bare when that is unambiguous, else
// quoted.
func token(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"\\") {
		return Quote(s)
	}
	return s
}

// ReadVars dials upsd at addr, lists the variables of ups and closes the
// connection. Without a deadline on ctx each step is bound by DefaultTimeout.
//
// When upsd reports ups.status "WAIT" (its driver has not delivered data
// yet) ReadVars returns the variables together with an error wrapping
// ErrWait. Use NoReading to tell "no reading now" from a configuration error.
func ReadVars(ctx context.Context, addr, ups string) (map[string]string, error) {
	c, err := Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("reading %s@%s: %w", ups, addr, err)
	}
	defer c.Close()
	vars, err := c.ListVars(ctx, ups)
	if err != nil {
		return nil, fmt.Errorf("reading %s@%s: %w", ups, addr, err)
	}
	for _, f := range strings.Fields(vars["ups.status"]) {
		if f == "WAIT" {
			return vars, fmt.Errorf("reading %s@%s: %w", ups, addr, ErrWait)
		}
	}
	return vars, nil
}

// NumLogins returns how many clients are logged in to ups (GET NUMLOGINS);
// each running upsmon that monitors ups counts once.
func (c *Client) NumLogins(ctx context.Context, ups string) (int, error) {
	var n int
	err := c.do(ctx, "GET NUMLOGINS "+token(ups), func() error {
		toks, err := c.readTokens()
		if err != nil {
			return err
		}
		if len(toks) != 3 || toks[0] != "NUMLOGINS" || toks[1] != ups {
			return unexpected("NUMLOGINS "+ups+" <n>", toks)
		}
		v, err := strconv.Atoi(toks[2])
		if err != nil || v < 0 {
			return unexpected("NUMLOGINS "+ups+" <n>", toks)
		}
		n = v
		return nil
	})
	return n, err
}
