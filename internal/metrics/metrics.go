// Package metrics writes Prometheus text-format files for node_exporter's
// textfile collector: a small builder of gauge families over client_model,
// the exposition by prometheus/common's expfmt, and an atomic file write
// (a temporary file in the same directory, fsync, rename, mode 0644).
package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// DefaultFile is where node_exporter's Debian package looks for textfiles
// (its --collector.textfile.directory).
const DefaultFile = "/var/lib/prometheus/node-exporter/nutslave.prom"

// ErrBadName is wrapped when a metric or label name is not a valid
// Prometheus name, or a label list is not name/value pairs.
var ErrBadName = errors.New("invalid metric")

// Set is a list of gauge families in the order they were first added.
// The zero Set is empty and ready to use.
type Set struct {
	fams []*dto.MetricFamily
	by   map[string]*dto.MetricFamily
	err  error
}

// Gauge adds one sample of the gauge name (declared with help on first
// use) with labels given as name, value pairs. A bad name or label list
// is kept and returned by Encode.
func (s *Set) Gauge(name, help string, value float64, labels ...string) {
	if s.err != nil {
		return
	}
	if !model.LegacyValidation.IsValidMetricName(name) {
		s.err = fmt.Errorf("%w: name %q", ErrBadName, name)
		return
	}
	if len(labels)%2 != 0 {
		s.err = fmt.Errorf("%w: %s: labels must be name, value pairs", ErrBadName, name)
		return
	}
	f, ok := s.by[name]
	if !ok {
		f = &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum()}
		if s.by == nil {
			s.by = map[string]*dto.MetricFamily{}
		}
		s.by[name] = f
		s.fams = append(s.fams, f)
	}
	m := &dto.Metric{Gauge: &dto.Gauge{Value: &value}}
	for i := 0; i < len(labels); i += 2 {
		if !model.LegacyValidation.IsValidLabelName(labels[i]) {
			s.err = fmt.Errorf("%w: %s: label name %q", ErrBadName, name, labels[i])
			return
		}
		m.Label = append(m.Label, &dto.LabelPair{Name: &labels[i], Value: &labels[i+1]})
	}
	f.Metric = append(f.Metric, m)
}

// Bool is 1 for true, 0 for false: the value of a yes/no gauge.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Timestamp is t in seconds since the Unix epoch, the unit of a
// *_timestamp_seconds gauge.
func Timestamp(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Encode writes the families in the Prometheus text format (version
// 0.0.4), each with its HELP and TYPE lines.
func (s *Set) Encode(w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range s.fams {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("metrics: %s: %w", f.GetName(), err)
		}
	}
	return nil
}

// WriteFile writes the set to path atomically, as node_exporter's textfile
// collector needs: a reader sees the old file or the new one, whole.
func (s *Set) WriteFile(path string) error {
	var b bytes.Buffer
	if err := s.Encode(&b); err != nil {
		return err
	}
	return writeAtomic(path, b.Bytes(), 0o644)
}

// writeAtomic writes data to a temporary dot-file in path's directory
// (node_exporter reads only *.prom), syncs it, renames it over path and
// syncs the directory. The temporary file is removed on any error.
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("metrics: write %s: %w", path, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("metrics: write %s: %w", path, unwrapPath(err))
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// unwrapPath drops a *fs.PathError's own operation and temporary path: the
// message names the metrics file instead.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
