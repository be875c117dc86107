// Package usbvm is the USB lab: it boots Debian's stock kernel under QEMU
// (TCG, no KVM, no network device) with a small initramfs in which
// dummy_hcd connects a FunctionFS gadget — the usbtool/gadget emulator,
// presenting one captured UPS — to the kernel's own USB host stack. There
// NUT's drivers and upsusb read the same emulated device, and the results
// come back over the serial console between markers.
//
// The VM tests are behind the usbvm build tag (make usb-e2e); the console
// parsing and the comparison rules are tested in plain go test.
package usbvm

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

//go:embed init.sh
var initScript []byte

// Modules the VM loads (modprobe adds their dependencies).
var Modules = []string{"configfs", "usbcore", "udc-core", "libcomposite", "dummy_hcd", "usb_f_fs", "usbmon", "hid", "usbhid", "hid-generic"}

// Kernel is an extracted Debian kernel package.
type Kernel struct {
	Version string // e.g. 6.1.0-57-amd64
	Root    string // where the package is extracted (boot/, lib/modules/)
}

// Vmlinuz returns the kernel image's path.
func (k Kernel) Vmlinuz() string { return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Version) }

// runCmd runs name with args in dir and returns its stdout; the error
// carries stderr.
func runCmd(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// kernelPackageRE finds the versioned image package linux-image-amd64
// depends on.
var kernelPackageRE = regexp.MustCompile(`Depends: (linux-image-(\d[^\s]*-amd64))`)

// FetchKernel resolves linux-image-amd64's dependency, downloads that
// package into cache with apt-get download (once) and extracts it there,
// running depmod on the extracted modules.
func FetchKernel(ctx context.Context, cache string) (Kernel, error) {
	out, err := runCmd(ctx, "", "apt-cache", "depends", "linux-image-amd64")
	if err != nil {
		return Kernel{}, fmt.Errorf("resolve the kernel package: %w", err)
	}
	m := kernelPackageRE.FindStringSubmatch(out)
	if m == nil {
		return Kernel{}, fmt.Errorf("resolve the kernel package: no linux-image-*-amd64 dependency in %q", out)
	}
	pkg, version := m[1], strings.TrimPrefix(m[1], "linux-image-")
	k := Kernel{Version: version, Root: filepath.Join(cache, "kernel-"+version)}
	if _, err := os.Stat(k.Vmlinuz()); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return k, err
	}
	debs, _ := filepath.Glob(filepath.Join(cache, pkg+"_*.deb"))
	if len(debs) == 0 {
		if _, err := runCmd(ctx, cache, "apt-get", "download", pkg); err != nil {
			return k, fmt.Errorf("download the kernel: %w", err)
		}
		if debs, _ = filepath.Glob(filepath.Join(cache, pkg+"_*.deb")); len(debs) == 0 {
			return k, fmt.Errorf("download the kernel: no %s_*.deb in %s", pkg, cache)
		}
	}
	tmp := k.Root + ".tmp"
	os.RemoveAll(tmp)
	if _, err := runCmd(ctx, "", "dpkg-deb", "-x", debs[0], tmp); err != nil {
		return k, fmt.Errorf("extract the kernel: %w", err)
	}
	if _, err := runCmd(ctx, "", "depmod", "-b", tmp, version); err != nil {
		return k, fmt.Errorf("depmod the kernel's modules: %w", err)
	}
	if err := os.Rename(tmp, k.Root); err != nil {
		return k, fmt.Errorf("extract the kernel: %w", err)
	}
	return k, nil
}

// ModuleFiles returns the module files (relative to k.Root) that mods
// and their dependencies are made of, in load order.
func (k Kernel) ModuleFiles(ctx context.Context, mods []string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	for _, m := range mods {
		out, err := runCmd(ctx, "", "modprobe", "-d", k.Root, "-S", k.Version, "--show-depends", m)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m, err)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "insmod" {
				continue
			}
			rel, err := filepath.Rel(k.Root, f[1])
			if err != nil || strings.HasPrefix(rel, "..") {
				return nil, fmt.Errorf("module %s: %s is outside the kernel tree", m, f[1])
			}
			if !seen[rel] {
				seen[rel] = true
				files = append(files, rel)
			}
		}
	}
	return files, nil
}

// Tree is an initramfs being assembled in a directory.
type Tree struct{ Dir string }

// Add copies the host file src to dst (absolute, inside the tree),
// following symbolic links, with mode.
func (t Tree) Add(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return t.Write(dst, b, mode)
}

// Write creates dst (absolute, inside the tree) with b.
func (t Tree) Write(dst string, b []byte, mode os.FileMode) error {
	p := filepath.Join(t.Dir, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return os.Chmod(p, mode)
}

// AddProgram copies a dynamically linked host program to the same path in
// the tree, with every library ldd names (at their own paths).
func (t Tree) AddProgram(ctx context.Context, path string) error {
	if err := t.Add(path, path, 0o755); err != nil {
		return err
	}
	out, err := runCmd(ctx, "", "ldd", path)
	if err != nil {
		if strings.Contains(err.Error(), "not a dynamic executable") {
			return nil
		}
		return fmt.Errorf("initramfs: libraries of %s: %w", path, err)
	}
	for _, line := range strings.Split(out, "\n") {
		lib := ""
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0] // the dynamic loader
		}
		if lib == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(t.Dir, lib)); err == nil {
			continue
		}
		if err := t.Add(lib, lib, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Pack writes the tree as a newc cpio archive to out.
func (t Tree) Pack(ctx context.Context, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer f.Close()
	var list bytes.Buffer
	err = filepath.Walk(t.Dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(t.Dir, p)
		fmt.Fprintln(&list, rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	cmd := exec.CommandContext(ctx, "cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0")
	cmd.Dir = t.Dir
	cmd.Stdin = &list
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initramfs: cpio: %w: %s", err, stderr.String())
	}
	return f.Close()
}

// Boot is one VM run.
type Boot struct {
	Kernel  Kernel
	Initrd  string
	Device  string        // usbvm.dev
	Mode    string        // usbvm.mode: crosscheck or outage
	Timeout time.Duration // the whole boot, killed after it
	// Console, when set, receives the serial console as it comes.
	Console io.Writer
}

// ErrBootTimeout is returned by [Boot.Run] when the VM did not finish in
// time; it was killed.
var ErrBootTimeout = errors.New("usbvm: VM did not finish in time")

// Args returns QEMU's command line: TCG, no network device, the serial
// console on stdio, no reboot.
func (b Boot) Args() []string {
	return []string{
		"-accel", "tcg", "-cpu", "max", "-m", "512", "-smp", "1",
		"-nographic", "-no-reboot", "-nic", "none", "-monitor", "none",
		"-kernel", b.Kernel.Vmlinuz(), "-initrd", b.Initrd,
		"-append", fmt.Sprintf("console=ttyS0 quiet loglevel=3 panic=-1 usbvm.dev=%s usbvm.mode=%s", b.Device, b.Mode),
	}
}

// Run boots the VM and returns its console output. A VM that does not
// power off within Timeout is killed (with its process group) and
// [ErrBootTimeout] returned with the output so far.
func (b Boot) Run(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	cmd := exec.Command("qemu-system-x86_64", b.Args()...)
	// Its own process group, killed on a timeout; killed too if this
	// process dies first (a test binary killed by go test's -timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	w := io.Writer(&out)
	if b.Console != nil {
		w = io.MultiWriter(&out, b.Console)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("usbvm: start qemu: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("usbvm: qemu: %w", err)
		}
		return out.String(), nil
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String(), fmt.Errorf("%w (%v, device %s)", ErrBootTimeout, b.Timeout, b.Device)
	}
}

// Sections splits a console log into its "@@BEGIN name@@" ... "@@END
// name@@" sections. done reports the final "@@DONE@@"; failure is the
// text of a "@@FAIL ...@@" line, if any.
func Sections(console string) (sections map[string]string, done bool, failure string) {
	sections = map[string]string{}
	var cur string
	var body strings.Builder
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "@@BEGIN ") && strings.HasSuffix(line, "@@"):
			cur = strings.TrimSuffix(strings.TrimPrefix(line, "@@BEGIN "), "@@")
			body.Reset()
		case cur != "" && line == "@@END "+cur+"@@":
			sections[cur] = body.String()
			cur = ""
		case cur != "":
			body.WriteString(line + "\n")
		case line == "@@DONE@@":
			done = true
		case strings.HasPrefix(line, "@@FAIL ") && strings.HasSuffix(line, "@@"):
			failure = strings.TrimSuffix(strings.TrimPrefix(line, "@@FAIL "), "@@")
		}
	}
	return sections, done, failure
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
