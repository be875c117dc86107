package gadget

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Server runs a [Device] as the user-space half of a FunctionFS function.
type Server struct {
	// Dir is where the function's FunctionFS instance is mounted.
	Dir    string
	Device Device
	// Log receives one line per notable event (enable, stalls); nil
	// discards them.
	Log *log.Logger
	// Ready, when set, is called once the descriptors and strings are
	// written: the gadget can now be bound to its UDC.
	Ready func() error
}

// Serve writes the function's descriptors and strings to ep0, then answers
// control requests until ep0 fails, applying every state received from
// states and sending the resulting input reports on the interrupt IN
// endpoint (ep1). It returns only on an error: stop it by ending the
// process (a read of ep0 cannot be interrupted otherwise).
func (s *Server) Serve(states <-chan State) error {
	lg := s.Log
	if lg == nil {
		lg = log.New(io.Discard, "", 0)
	}
	fd, err := syscall.Open(filepath.Join(s.Dir, "ep0"), syscall.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("functionfs: open ep0: %w", err)
	}
	defer syscall.Close(fd)
	iface, strs := s.Device.Interface(), s.Device.Strings()
	if len(strs) > 0 && len(strs) < 256 {
		iface.IInterface = uint8(len(strs))
	}
	if err := writeAll(fd, DescriptorsBlob(iface)); err != nil {
		return fmt.Errorf("functionfs: write descriptors: %w", err)
	}
	if err := writeAll(fd, StringsBlob(strs)); err != nil {
		return fmt.Errorf("functionfs: write strings: %w", err)
	}
	ep1, err := os.OpenFile(filepath.Join(s.Dir, "ep1"), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("functionfs: open ep1: %w", err)
	}
	defer ep1.Close()
	reports := newReportQueue(256)
	go sendReports(ep1, reports, lg)
	go func() {
		for st := range states {
			out, err := s.Device.Apply(st)
			if err != nil {
				lg.Printf("apply %+v: %v", st, err)
			}
			for _, r := range out {
				if !reports.pushState(r) {
					lg.Printf("interrupt queue full: report % x dropped", r)
				}
			}
		}
	}()
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			return err
		}
	}
	buf := make([]byte, 4*EventSize)
	for {
		n, err := retry(func() (int, error) { return syscall.Read(fd, buf) })
		if err != nil {
			return fmt.Errorf("functionfs: read ep0: %w", err)
		}
		evs, err := ParseEvents(buf[:n])
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Type != EventSetup {
				lg.Printf("event %s", ev.Type)
				continue
			}
			for _, r := range s.setup(fd, ev.Setup, lg) {
				if !reports.push(r) {
					lg.Printf("interrupt queue full: report % x dropped", r)
				}
			}
		}
	}
}

// setup answers one control request and returns the input reports it
// produced.
func (s *Server) setup(fd int, st Setup, lg *log.Logger) [][]byte {
	if st.In() {
		data, err := s.Device.ControlIn(st)
		if err != nil {
			lg.Printf("stall IN %s", st)
			// A read in the IN direction stalls ep0 (f_fs.c ffs_ep0_read).
			retry(func() (int, error) { return syscall.Read(fd, nil) })
			return nil
		}
		if _, err := retry(func() (int, error) { return syscall.Write(fd, data) }); err != nil {
			lg.Printf("reply %s: %v", st, err)
		}
		return nil
	}
	if st.Length == 0 {
		out, err := s.Device.ControlOut(st, nil)
		if errors.Is(err, ErrStall) {
			lg.Printf("stall OUT %s", st)
			// A write in the OUT direction stalls ep0.
			retry(func() (int, error) { return syscall.Write(fd, nil) })
			return nil
		}
		retry(func() (int, error) { return syscall.Read(fd, nil) })
		return out
	}
	data := make([]byte, st.Length)
	n, err := retry(func() (int, error) { return syscall.Read(fd, data) })
	if err != nil {
		lg.Printf("data of OUT %s: %v", st, err)
		return nil
	}
	out, err := s.Device.ControlOut(st, data[:n])
	if err != nil {
		// The data stage is over; the request can no longer be stalled.
		lg.Printf("OUT %s refused after its data: %v", st, err)
	}
	return out
}

// sendReports writes each report to the interrupt IN endpoint. A write
// blocks until the host reads it; while the function is disabled the
// write fails and the report is dropped.
func sendReports(ep *os.File, q *reportQueue, lg *log.Logger) {
	for {
		r := q.next()
		if _, err := ep.Write(r); err != nil {
			lg.Printf("interrupt report % x: %v", r, err)
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// writeAll writes b to fd in one write, as FunctionFS expects of its
// descriptor and string blobs.
func writeAll(fd int, b []byte) error {
	n, err := retry(func() (int, error) { return syscall.Write(fd, b) })
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("short write: %d of %d bytes", n, len(b))
	}
	return nil
}

// retry repeats a system call interrupted by a signal (the Go runtime
// sends them for preemption).
func retry(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}
