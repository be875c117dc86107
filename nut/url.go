package nut

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is upsd's registered TCP port.
const DefaultPort = 3493

// ErrBadURL is wrapped by every ParseURL error.
var ErrBadURL = errors.New("invalid NUT URL")

const urlExample = "want nut://ups[@host[:port]], e.g. nut://myups@localhost:3493 or nut://myups@[::1]"

// ParseURL splits a source URL of the form nut://ups[@host[:port]] into the
// UPS name and a dialable "host:port" address. The host defaults to
// localhost and the port to 3493; an IPv6 host goes in brackets.
//
//	nut://myups                  → myups, localhost:3493
//	nut://myups@10.0.0.5         → myups, 10.0.0.5:3493
//	nut://myups@[fe80::1]:3494   → myups, [fe80::1]:3494
func ParseURL(s string) (ups, addr string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("%w %q: %s; %s", ErrBadURL, s, why, urlExample)
	}
	rest, ok := strings.CutPrefix(s, "nut://")
	if !ok {
		return bad("scheme must be nut://")
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#") {
		return bad("unexpected path, query or fragment")
	}
	ups, hostport, hasHost := strings.Cut(rest, "@")
	if err := checkUPSName(ups); err != nil {
		return bad(err.Error())
	}
	if !hasHost {
		return ups, net.JoinHostPort("localhost", strconv.Itoa(DefaultPort)), nil
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return bad("missing ] after IPv6 address")
		}
		host = hostport[1:end]
		switch after := hostport[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
			if port == "" {
				return bad("empty port")
			}
		default:
			return bad("unexpected text after ]")
		}
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return bad(fmt.Sprintf("%q in brackets is not an IPv6 address", host))
		}
	} else {
		if strings.Count(hostport, ":") > 1 {
			return bad("an IPv6 address needs brackets")
		}
		var hasPort bool
		host, port, hasPort = strings.Cut(hostport, ":")
		if hasPort && port == "" {
			return bad("empty port")
		}
	}
	if host == "" {
		return bad("empty host after @")
	}
	if strings.ContainsAny(host, " \t\"\\@[]") {
		return bad(fmt.Sprintf("invalid host %q", host))
	}
	p := DefaultPort
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
			return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
		p = n
	}
	return ups, net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// checkUPSName accepts the names NUT accepts in practice for an ups.conf
// section: letters, digits and ._- (no spaces, quotes or separators).
func checkUPSName(name string) error {
	if name == "" {
		return errors.New("empty UPS name")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("UPS name %q contains %q (allowed: letters, digits, . _ -)", name, r)
		}
	}
	return nil
}
