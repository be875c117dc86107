package nut_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
	"github.com/nutslave/nutslave/nut"
)

// These tests run against Debian's real upsd and dummy-ups, started on
// 127.0.0.1 by internal/lab; they skip when NUT or root is missing.

func TestRealUPSD(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{UPS: "labups", Vars: map[string]string{
		"ups.status": "OB DISCHRG", "battery.charge": "64", "ups.id": "lab UPS one",
	}})
	ctx := context.Background()
	ups, addr, err := nut.ParseURL(n.URL())
	if err != nil || ups != "labups" || addr != n.Addr {
		t.Fatalf("ParseURL(%q) = %q, %q, %v", n.URL(), ups, addr, err)
	}
	c, err := nut.Dial(ctx, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if v, err := c.Version(ctx); err != nil || !strings.Contains(v, "upsd") {
		t.Errorf("Version = %q, %v", v, err)
	}
	if v, err := c.ProtocolVersion(ctx); err != nil || !strings.HasPrefix(v, "1.") {
		t.Errorf("ProtocolVersion = %q, %v", v, err)
	}
	list, err := c.ListUPS(ctx)
	if _, ok := list["labups"]; err != nil || !ok {
		t.Errorf("ListUPS = %v, %v; want labups", list, err)
	}
	vars, err := c.ListVars(ctx, "labups")
	if err != nil {
		t.Fatalf("ListVars: %v", err)
	}
	for k, want := range map[string]string{"ups.status": "OB DISCHRG", "battery.charge": "64", "ups.id": "lab UPS one"} {
		if vars[k] != want {
			t.Errorf("ListVars[%q] = %q, want %q", k, vars[k], want)
		}
	}
	if v, err := c.GetVar(ctx, "labups", "battery.charge"); err != nil || v != "64" {
		t.Errorf("GetVar(battery.charge) = %q, %v; want 64", v, err)
	}

	tests := []struct {
		name     string
		call     func() error
		sentinel error
	}{
		{"unknown ups", func() error { _, err := c.ListVars(ctx, "nosuch"); return err }, nut.ErrUnknownUPS},
		{"unknown var", func() error { _, err := c.GetVar(ctx, "labups", "no.such.var"); return err }, nut.ErrVarNotSupported},
		{"set without login", func() error { return c.SetVar(ctx, "labups", "ups.status", "OL") }, nut.ErrUsernameRequired},
	}
	for _, tt := range tests {
		err := tt.call()
		if !errors.Is(err, tt.sentinel) || nut.NoReading(err) {
			t.Errorf("%s: error = %v (NoReading %v), want %v", tt.name, err, nut.NoReading(err), tt.sentinel)
		}
	}
	// The connection survives ERR replies.
	if _, err := c.GetVar(ctx, "labups", "ups.status"); err != nil {
		t.Errorf("GetVar after ERR replies: %v", err)
	}

	if err := n.Set(map[string]string{"ups.status": "OL CHRG"}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetVar(ctx, "labups", "ups.status"); err != nil || v != "OL CHRG" {
		t.Errorf("GetVar after Set = %q, %v; want OL CHRG", v, err)
	}
}

func TestRealUPSDAuthenticate(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	ctx := context.Background()
	c, err := nut.Dial(ctx, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, n.PrimaryUser, "wrong"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	// upsd checks the password only when a privilege is used.
	if err := c.SetVar(ctx, n.UPS, "ups.status", "OB"); !errors.Is(err, nut.ErrAccessDenied) {
		t.Errorf("SetVar with a wrong password: %v, want ACCESS-DENIED", err)
	}
}

func TestRealStartTLSNotConfigured(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	ctx := context.Background()
	c, err := nut.Dial(ctx, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The lab upsd has no certificate (Debian's upsd uses an NSS database).
	err = c.StartTLS(ctx, &tls.Config{ServerName: "127.0.0.1"})
	if !errors.Is(err, nut.ErrFeatureNotConfigured) {
		t.Fatalf("StartTLS = %v, want FEATURE-NOT-CONFIGURED", err)
	}
	if _, err := c.GetVar(ctx, n.UPS, "ups.status"); err != nil {
		t.Errorf("GetVar after a refused STARTTLS: %v", err)
	}
}

func TestRealDriverNotConnected(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	if err := n.StopDriver(); err != nil {
		t.Fatal(err)
	}
	vars, err := nut.ReadVars(context.Background(), n.Addr, n.UPS)
	if !errors.Is(err, nut.ErrDriverNotConnected) || !nut.NoReading(err) || vars != nil {
		t.Errorf("ReadVars with the driver stopped = %v, %v; want DRIVER-NOT-CONNECTED with NoReading", vars, err)
	}
}

func TestRealDataStale(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{MaxAge: 2 * time.Second})
	// Stale data needs MAXAGE without news while the driver stays connected.
	if err := n.PauseDriver(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := nut.ReadVars(context.Background(), n.Addr, n.UPS)
		if errors.Is(err, nut.ErrDataStale) {
			if !nut.NoReading(err) {
				t.Errorf("NoReading(%v) = false", err)
			}
			break
		}
		if err != nil && !errors.Is(err, nut.ErrDriverNotConnected) {
			t.Fatalf("ReadVars with the driver paused: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DATA-STALE 20s after pausing the driver (last error %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := n.ResumeDriver(); err != nil {
		t.Fatal(err)
	}
}

func TestRealUPSDStopped(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := nut.ReadVars(context.Background(), n.Addr, n.UPS)
	if !nut.NoReading(err) {
		t.Errorf("ReadVars with upsd stopped: %v, want NoReading", err)
	}
}

func BenchmarkReadVars(b *testing.B) {
	n := labtest.NUT(b, lab.NUTOptions{})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := nut.ReadVars(ctx, n.Addr, n.UPS); err != nil {
			b.Fatal(err)
		}
	}
}
