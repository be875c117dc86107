package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary describes a set of samples.
type Summary struct {
	N                       int
	Min, P50, P90, P99, Max float64
	Mean                    float64
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be sorted ascending; NaN when it is empty.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Summarize sorts a copy of xs and summarizes it.
func Summarize(xs []float64) Summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	out := Summary{N: len(s), Min: math.NaN(), Max: math.NaN(), Mean: math.NaN()}
	if len(s) > 0 {
		out.Min, out.Max, out.Mean = s[0], s[len(s)-1], sum/float64(len(s))
	}
	out.P50, out.P90, out.P99 = Percentile(s, 50), Percentile(s, 90), Percentile(s, 99)
	return out
}

// Millis converts durations to float milliseconds.
func Millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// Verdict is "met" or "NOT met".
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// f1 formats a float with one decimal, or "-" for NaN.
func f1(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.1f", x)
}
