package nut

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in, ups, addr string
	}{
		{"nut://ups", "ups", "localhost:3493"},
		{"nut://ups/", "ups", "localhost:3493"},
		{"nut://myups@host", "myups", "host:3493"},
		{"nut://myups@127.0.0.1:3494", "myups", "127.0.0.1:3494"},
		{"nut://a.b-c_d@nas.example.org:1", "a.b-c_d", "nas.example.org:1"},
		{"nut://ups@[::1]", "ups", "[::1]:3493"},
		{"nut://ups@[fe80::1]:65535", "ups", "[fe80::1]:65535"},
	}
	for _, tt := range tests {
		ups, addr, err := ParseURL(tt.in)
		if err != nil || ups != tt.ups || addr != tt.addr {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, nil", tt.in, ups, addr, err, tt.ups, tt.addr)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, in := range []string{
		"", "ups@host", "http://ups@host", "nut://", "nut://@host", "nut://ups@",
		"nut://ups@host:", "nut://ups@host:0", "nut://ups@host:65536", "nut://ups@host:x",
		"nut://ups@host:+1", "nut://ups@::1", "nut://ups@[::1", "nut://ups@[::1]x",
		"nut://ups@[::1]:", "nut://ups@[127.0.0.1]", "nut://u ps@host", "nut://ups@host/path",
		"nut://ups@host?q", "nut://ups@a@b",
	} {
		_, _, err := ParseURL(in)
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("ParseURL(%q) error = %v, want ErrBadURL", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "e.g. nut://") {
			t.Errorf("ParseURL(%q) error %q carries no example", in, err)
		}
	}
}
