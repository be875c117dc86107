//go:build usbvm

package usbvm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// bootTimeout bounds one VM boot (TCG on a shared machine: a boot takes
// 20-60 s).
const bootTimeout = 4 * time.Minute

// cacheDir is where downloads and builds are kept between runs.
func cacheDir() string {
	if d := os.Getenv("USBVM_CACHE"); d != "" {
		return d
	}
	return "/var/cache/nutslave/usbvm"
}

// labOnce builds the kernel, the programs and the initramfs once per test
// binary.
var labOnce = sync.OnceValues(func() (lab, error) { return buildLab(context.Background()) })

type lab struct {
	kernel Kernel
	initrd string
}

// requireLab skips (with the reason) when the machine cannot run the lab,
// and builds it.
func requireLab(t *testing.T) lab {
	t.Helper()
	for _, p := range []string{"qemu-system-x86_64", "cpio", "depmod", "modprobe", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("usbvm: %s not found: run make usb-e2e as root (it installs qemu-system-x86 busybox-static kmod cpio)", p)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("usbvm: /bin/busybox missing: apt-get install busybox-static")
	}
	l, err := labOnce()
	if err != nil {
		t.Fatalf("usbvm: build the lab: %v", err)
	}
	return l
}

// moduleRoot is the repository's root (this package is internal/usbvm).
func moduleRoot() string { return filepath.Join("..", "..") }

func buildLab(ctx context.Context) (lab, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cache := cacheDir()
	k, err := FetchKernel(ctx, cache)
	if err != nil {
		return lab{}, err
	}
	bin := filepath.Join(cache, "bin")
	root, err := filepath.Abs(moduleRoot())
	if err != nil {
		return lab{}, err
	}
	builds := []struct {
		cgo, pkg string
	}{{"0", "./internal/usbvm/upsgadget"}, {"1", "./cmd/upsusb"}, {"1", "./cmd/upsflags"}}
	for _, b := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-o", bin+"/", b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			return lab{}, fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	dir, err := os.MkdirTemp("", "usbvm-initramfs-")
	if err != nil {
		return lab{}, err
	}
	defer os.RemoveAll(dir)
	initrd := filepath.Join(cache, "initramfs.cpio")
	err = BuildInitramfs(ctx, dir, initrd, InitramfsOptions{
		Kernel:   k,
		Programs: Programs{Gadget: filepath.Join(bin, "upsgadget"), Upsusb: filepath.Join(bin, "upsusb"), Upsflags: filepath.Join(bin, "upsflags")},
		Corpus:   filepath.Join(root, "testdata", "hid"),
		Extra:    map[string]string{"/usbvm/outage.sh": outageScript},
	})
	if err != nil {
		return lab{}, err
	}
	return lab{kernel: k, initrd: initrd}, nil
}

// boot runs one VM and returns its sections; a boot that fails or times
// out fails the test with the tail of its console.
func boot(t *testing.T, l lab, dev, mode string) map[string]string {
	t.Helper()
	start := time.Now()
	logf, err := os.Create(filepath.Join(cacheDir(), "console-"+dev+"-"+mode+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	console, err := Boot{Kernel: l.kernel, Initrd: l.initrd, Device: dev, Mode: mode, Timeout: bootTimeout, Console: logf}.Run(context.Background())
	t.Logf("boot %s (%s): %.1fs, console in %s", dev, mode, time.Since(start).Seconds(), logf.Name())
	sections, done, failure := Sections(console)
	switch {
	case err != nil:
		t.Fatalf("%v; console tail:\n%s", err, Tail(console, 40))
	case failure != "":
		t.Fatalf("VM init failed: %s; console tail:\n%s", failure, Tail(console, 60))
	case !done:
		t.Fatalf("VM ended without @@DONE@@; console tail:\n%s", Tail(console, 40))
	}
	return sections
}

// TestUSBVM boots one VM per lab device and checks that NUT's driver and
// upsusb read the same values from the emulated UPS.
//
// The boots run side by side, as many as -parallel allows (make usb-e2e:
// one per core; a TCG guest keeps one core busy), with TestUSBVMOutage's.
func TestUSBVM(t *testing.T) {
	t.Parallel()
	l := requireLab(t)
	reports := make([]strings.Builder, len(Devices))
	t.Run("devices", func(t *testing.T) {
		for i, d := range Devices {
			t.Run(d.Name, func(t *testing.T) {
				t.Parallel()
				report := &reports[i]
				s := boot(t, l, d.Name, "crosscheck")
				for _, phase := range []struct{ suffix, title string }{
					{"", "as recorded"},
					{"-onbatt", "after onbatt, charge 40, lowbatt on"},
				} {
					crossCheck(t, report, d, phase.title, s["upsusb"+phase.suffix], s["upsc"+phase.suffix], s["upsdrvctl-log"+phase.suffix])
				}
				if rec := strings.TrimSpace(s["record"]); rec != "" {
					fmt.Fprintf(report, "recorded commands:\n%s\n", rec)
				}
			})
		}
	})
	var all strings.Builder
	for i := range reports {
		all.WriteString(reports[i].String())
	}
	out := filepath.Join(cacheDir(), "crosscheck.txt")
	if err := os.WriteFile(out, []byte(all.String()), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("cross-check table (also in %s):\n%s", out, all.String())
}

// crossCheck compares what upsusb and NUT read in one phase of a boot and
// adds the table to report.
func crossCheck(t *testing.T, report *strings.Builder, d Device, title, upsusb, upsc, driverLog string) {
	t.Helper()
	ours, err := ParseUpsusb(upsusb)
	if err != nil {
		t.Fatalf("%s: %v", title, err)
	}
	nut := WithDeviceAliases(ParseUpsc(upsc))
	if len(nut) == 0 {
		t.Fatalf("%s: upsc printed nothing:\n%s\ndriver log:\n%s", title, upsc, driverLog)
	}
	rows := Compare(ours, nut, KnownDifferences[d.Name])
	w := tabwriter.NewWriter(report, 2, 8, 2, ' ', 0)
	fmt.Fprintf(w, "== %s (%s), %s\n", d.Name, d.ID(), title)
	for _, r := range rows {
		verdict := "equal"
		switch {
		case !r.Equal && r.Explanation != "":
			verdict = "differs (explained: " + r.Explanation + ")"
		case !r.Equal:
			verdict = "DIFFERS"
			t.Errorf("%s: %s: upsusb %q, NUT %q", title, r.Var, r.Ours, r.NUT)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Var, r.Ours, r.NUT, verdict)
	}
	fmt.Fprintf(w, "only upsusb:\t%s\n", strings.Join(Only(ours, nut), " "))
	fmt.Fprintf(w, "only NUT:\t%s\n", strings.Join(Only(nut, ours), " "))
	w.Flush()
	if len(rows) < 3 {
		t.Errorf("%s: only %d variables in common; upsusb %v; NUT %v", title, len(rows), ours, nut)
	}
}
