package usbvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// NUTPrograms are the NUT programs the VM runs, at their Debian paths
// (upsdrvctl starts drivers from /lib/nut).
var NUTPrograms = []string{"/lib/nut/usbhid-ups", "/lib/nut/nutdrv_qx", "/usr/sbin/upsdrvctl", "/lib/nut/upsd", "/usr/bin/upsc"}

// Programs are the lab's own binaries, built by the caller.
type Programs struct {
	Gadget   string // upsgadget (static)
	Upsusb   string // upsusb (cgo, libusb)
	Upsflags string // upsflags (cgo, libusb)
}

// InitramfsOptions says what goes into the VM.
type InitramfsOptions struct {
	Kernel   Kernel
	Programs Programs
	Corpus   string // testdata/hid
	// Extra files: path in the VM -> content (e.g. the outage script).
	Extra map[string]string
}

// BuildInitramfs assembles the lab's initramfs in dir (an empty working
// directory) and packs it to out: busybox, the modules and their
// dependencies (with depmod), the programs and the NUT programs with
// their libraries, the corpus, one env file per device and /init.
func BuildInitramfs(ctx context.Context, dir, out string, o InitramfsOptions) error {
	t := Tree{Dir: dir}
	if err := t.Add("/bin/busybox", "/bin/busybox", 0o755); err != nil {
		return fmt.Errorf("busybox-static: %w", err)
	}
	if err := t.Write("/init", initScript, 0o755); err != nil {
		return err
	}
	mods, err := o.Kernel.ModuleFiles(ctx, Modules)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if err := t.Add(filepath.Join(o.Kernel.Root, m), "/"+m, 0o644); err != nil {
			return err
		}
	}
	if _, err := runCmd(ctx, "", "depmod", "-b", dir, o.Kernel.Version); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := t.Add(o.Programs.Gadget, "/usbvm/bin/upsgadget", 0o755); err != nil {
		return err
	}
	for _, p := range []struct{ src, dst string }{{o.Programs.Upsusb, "/usbvm/bin/upsusb"}, {o.Programs.Upsflags, "/usbvm/bin/upsflags"}} {
		if err := t.AddProgram(ctx, p.src); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, p.src), filepath.Join(dir, p.dst)); err != nil {
			if err := t.Add(p.src, p.dst, 0o755); err != nil {
				return err
			}
		}
	}
	for _, p := range NUTPrograms {
		if err := t.AddProgram(ctx, p); err != nil {
			return fmt.Errorf("%w (install nut-server and nut-client)", err)
		}
	}
	// glibc looks users up through NSS: root and nut come from /etc/passwd.
	if err := t.Add("/lib/x86_64-linux-gnu/libnss_files.so.2", "/lib/x86_64-linux-gnu/libnss_files.so.2", 0o755); err != nil {
		return err
	}
	for p, s := range map[string]string{
		"/etc/passwd":        "root:x:0:0:root:/root:/bin/sh\nnut:x:100:100:nut:/run/nut:/bin/false\n",
		"/etc/group":         "root:x:0:\nnut:x:100:\n",
		"/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
		"/etc/hosts":         "127.0.0.1 localhost\n",
	} {
		if err := t.Write(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	for p, s := range o.Extra {
		if err := t.Write(p, []byte(s), 0o755); err != nil {
			return err
		}
	}
	files, err := filepath.Glob(filepath.Join(o.Corpus, "*"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".rdesc.hex") || strings.HasSuffix(f, ".reports.txt") {
			if err := t.Add(f, "/usbvm/corpus/"+filepath.Base(f), 0o644); err != nil {
				return err
			}
		}
	}
	for _, d := range Devices {
		if err := t.Write("/usbvm/devices/"+d.Name+".env", []byte(d.Env()), 0o644); err != nil {
			return err
		}
	}
	return t.Pack(ctx, out)
}
