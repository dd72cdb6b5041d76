package main

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the histogram's precision: every power-of-two range of
// values is split into 2^histSubBits buckets, so a recorded value is known
// to within 1/64 (1.6%) of itself. Values below 2^(histSubBits+1) ns are
// exact.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histExact   = 2 * histSub // values below this have a bucket each
	histBuckets = (64 - histSubBits) * histSub
)

// Hist is a fixed-size log-linear latency histogram in the spirit of
// HdrHistogram: constant memory, constant-time Record, mergeable, with a
// bounded relative error. The exact minimum, maximum and sum are kept as
// well. The zero value is ready to use; it is not safe for concurrent use
// (each load worker keeps its own and they are merged at the end).
type Hist struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64 // nanoseconds
	min    int64
	max    int64
}

// bucketOf returns the bucket of a value in nanoseconds (negative values
// count as zero).
func bucketOf(v int64) int {
	if v < histExact {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1)
	return shift*histSub + int(uint64(v)>>shift)
}

// bucketRange returns the smallest and largest values a bucket holds.
func bucketRange(i int) (lo, hi int64) {
	if i < histExact {
		return int64(i), int64(i)
	}
	shift := i/histSub - 1
	lo = int64(i%histSub+histSub) << shift
	width := int64(1) << shift
	if lo > math.MaxInt64-width+1 {
		return lo, math.MaxInt64
	}
	return lo, lo + width - 1
}

// Record adds one latency.
func (h *Hist) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n }

// Max is the largest recorded value (exact).
func (h *Hist) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest recorded value (exact).
func (h *Hist) Min() time.Duration { return time.Duration(h.min) }

// Mean is the average of the recorded values (exact).
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q (0 < q <= 1): the smallest
// recorded value such that at least q of all values are at or below it,
// reported as the upper end of its bucket (so never below the true value,
// and at most 1/64 above it), clamped to the exact minimum and maximum.
// An empty histogram gives 0.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
