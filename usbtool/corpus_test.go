package usbtool_test

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
)

// corpusDir returns the directory of captured HID descriptors named by
// NUTSLAVE_HID_CORPUS, or skips the test.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("NUTSLAVE_HID_CORPUS")
	if dir == "" {
		tb.Skip("NUTSLAVE_HID_CORPUS is not set; it names the directory of captured HID descriptors (*.rdesc.hex)")
	}
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("NUTSLAVE_HID_CORPUS=%s: %v", dir, err)
	}
	return dir
}

// corpusDevice is one captured device: descriptor, VID:PID and the
// recorded report lines.
type corpusDevice struct {
	name     string
	vid, pid uint16
	rdesc    []byte
	records  []corpusRecord
}

// corpusRecord is one line of a .reports.txt file.
type corpusRecord struct {
	line   int
	id     uint8
	typ    usbtool.ReportType
	report []byte
	path   string
	off    int
	size   int
	nut    float64
	note   string
}

func loadCorpus(tb testing.TB) []corpusDevice {
	tb.Helper()
	dir := corpusDir(tb)
	files, err := filepath.Glob(filepath.Join(dir, "*.rdesc.hex"))
	if err != nil || len(files) == 0 {
		tb.Skipf("NUTSLAVE_HID_CORPUS=%s holds no *.rdesc.hex files", dir)
	}
	var devs []corpusDevice
	for _, fn := range files {
		name := strings.TrimSuffix(filepath.Base(fn), ".rdesc.hex")
		d := corpusDevice{name: name}
		b, err := os.ReadFile(fn)
		if err != nil {
			tb.Fatal(err)
		}
		if d.rdesc, err = hex.DecodeString(strings.TrimSpace(string(b))); err != nil {
			tb.Fatalf("%s: %v", fn, err)
		}
		if src, err := os.ReadFile(filepath.Join(dir, name+".source.txt")); err == nil {
			d.vid, d.pid = sourceVIDPID(string(src))
		}
		d.records = readRecords(tb, filepath.Join(dir, name+".reports.txt"))
		devs = append(devs, d)
	}
	return devs
}

// sourceVIDPID finds "VID:PID vvvv:pppp" in a .source.txt file.
func sourceVIDPID(s string) (uint16, uint16) {
	i := strings.Index(s, "VID:PID ")
	if i < 0 {
		return 0, 0
	}
	f := strings.SplitN(s[i+len("VID:PID "):], ":", 2)
	if len(f) < 2 || len(f[1]) < 4 {
		return 0, 0
	}
	v, _ := strconv.ParseUint(f[0], 16, 16)
	p, _ := strconv.ParseUint(f[1][:4], 16, 16)
	return uint16(v), uint16(p)
}

func readRecords(tb testing.TB, fn string) []corpusRecord {
	tb.Helper()
	f, err := os.Open(fn)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var recs []corpusRecord
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		data, comment, ok := strings.Cut(line, "#")
		if !ok {
			tb.Fatalf("%s:%d: no '#' comment", fn, n)
		}
		r := corpusRecord{line: n}
		fs := strings.Fields(data)
		id, err := strconv.ParseUint(fs[0], 0, 8)
		if err != nil {
			tb.Fatalf("%s:%d: %v", fn, n, err)
		}
		r.id = uint8(id)
		r.typ = map[string]usbtool.ReportType{"input": usbtool.Input, "feature": usbtool.Feature, "output": usbtool.Output}[fs[1]]
		r.report, err = hex.DecodeString(strings.Join(fs[2:], ""))
		if err != nil {
			tb.Fatalf("%s:%d: %v", fn, n, err)
		}
		cs := strings.Fields(comment)
		r.path = cs[0]
		for _, c := range cs[1:] {
			k, v, _ := strings.Cut(c, "=")
			switch k {
			case "off":
				r.off, _ = strconv.Atoi(v)
			case "size":
				r.size, _ = strconv.Atoi(v)
			case "nut":
				r.nut, err = strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("%s:%d: nut=%q: %v", fn, n, v, err)
				}
			}
		}
		if i := strings.Index(comment, "("); i >= 0 {
			r.note = comment[i:]
		}
		recs = append(recs, r)
	}
	return recs
}
