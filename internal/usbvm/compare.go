package usbvm

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ParseUpsc parses upsc's "name: value" lines.
func ParseUpsc(s string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && k != "" && !strings.ContainsAny(k, " \t") {
			vars[k] = strings.TrimSpace(v)
		}
	}
	return vars
}

// ParseUpsusb parses the JSON object upsusb read --json prints.
func ParseUpsusb(s string) (map[string]string, error) {
	vars := map[string]string{}
	start := strings.IndexByte(s, '{')
	if start < 0 {
		return nil, fmt.Errorf("upsusb: no JSON object in %q", Tail(s, 5))
	}
	if err := json.Unmarshal([]byte(s[start:]), &vars); err != nil {
		return nil, fmt.Errorf("upsusb: %w", err)
	}
	return vars, nil
}

// WithDeviceAliases returns nut with ups.mfr, ups.model and ups.serial
// filled in from device.mfr, device.model and device.serial where only
// the latter are published (NUT's dstate aliases the two; nutdrv_qx
// 2.8.0 publishes only device.*).
func WithDeviceAliases(nut map[string]string) map[string]string {
	out := make(map[string]string, len(nut))
	for k, v := range nut {
		out[k] = v
	}
	for _, k := range []string{"mfr", "model", "serial"} {
		if v, ok := nut["device."+k]; ok {
			if _, have := out["ups."+k]; !have {
				out["ups."+k] = v
			}
		}
	}
	return out
}

// Row is one variable both readers report.
type Row struct {
	Var         string
	Ours, NUT   string
	Equal       bool
	Explanation string // why a difference is expected, when it is
}

// Equal compares one variable the way the cross-check does: numbers are
// equal when ours, rounded to the decimals NUT printed, is NUT's value;
// anything else must match exactly (after trimming spaces).
func Equal(ours, nut string) bool {
	ours, nut = strings.TrimSpace(ours), strings.TrimSpace(nut)
	if ours == nut {
		return true
	}
	a, errA := strconv.ParseFloat(ours, 64)
	b, errB := strconv.ParseFloat(nut, 64)
	if errA != nil || errB != nil {
		return false
	}
	dec := 0
	if i := strings.IndexByte(nut, '.'); i >= 0 {
		dec = len(nut) - i - 1
	}
	p := math.Pow10(dec)
	return math.Abs(math.Round(a*p)-math.Round(b*p)) < 0.5
}

// Compare returns a row for every variable both maps hold, sorted, with
// the explanations of expected differences from known (by variable).
func Compare(ours, nut map[string]string, known map[string]string) []Row {
	var rows []Row
	for k, v := range ours {
		n, ok := nut[k]
		if !ok {
			continue
		}
		r := Row{Var: k, Ours: v, NUT: n, Equal: Equal(v, n)}
		if !r.Equal {
			r.Explanation = known[k]
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Var < rows[j].Var })
	return rows
}

// Only returns the variables of a that b lacks, sorted.
func Only(a, b map[string]string) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
