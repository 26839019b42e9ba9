package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// streamLines is the format of the throughput, scale and outage streams:
// testlab's numbered lines, "L00000042 " and then an sshd log line whose
// numbers and key hash vary from line to line, so that ssh -C compresses it
// about as well as a real auth log (repetitive padding would compress
// 50-fold and make -C look free).
func streamLines(size int) testlab.Lines { return testlab.Lines{Size: size, Fill: authLogBody} }

const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// authLogBody appends the n-byte body of line i.
func authLogBody(b []byte, i, n int) []byte {
	start := len(b)
	h := splitmix(uint64(i))
	b = fmt.Appendf(b, "%02d:%02d:%02d web%d sshd[%d]: Accepted publickey for u%d from 10.%d.%d.%d port %d SHA256:",
		h%24, h>>5%60, h>>11%60, h>>17%9, h>>21%32768, h>>36%500, h>>45%256, h>>53%256, i%256, 1024+i%64000)
	for len(b)-start < n {
		h = splitmix(h)
		for k := 0; k < 10 && len(b)-start < n; k++ {
			b = append(b, b64[h>>(6*k)&63])
		}
	}
	return b[:start+n]
}

// splitmix is SplitMix64's output function: cheap, well mixed bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// stamped returns line i stamped with the monotonic time t:
// "L00000042 T0000001234567890123 <pad>\n", size bytes.
func stamped(i int, t int64, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, size), "L%08d T%019d ", i, t)
	for len(b) < size-1 {
		b = append(b, byte('a'+len(b)%26))
	}
	return append(b, '\n')
}

// parseStamped returns the index and stamp of a stamped line (without its
// newline).
func parseStamped(line []byte) (i int, t int64, ok bool) {
	if len(line) < 31 || line[0] != 'L' || line[10] != 'T' {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(string(line[1:9]))
	s, err2 := strconv.ParseInt(string(line[11:30]), 10, 64)
	return n, s, err1 == nil && err2 == nil
}

// checkNumbered compares data with lines 0..n-1 of the stream; want, if
// given, is the exact expected content (a fast path for the usual case).
func checkNumbered(data, want []byte, n, size int) testlab.Report {
	if want != nil && bytes.Equal(data, want) {
		return testlab.Report{Received: n}
	}
	return streamLines(size).Check(data, n)
}

// pace calls write(i) for i = 0..n-1 at rate calls per second, in the
// small bursts a 200 µs tick allows, until ctx ends.
func pace(ctx context.Context, rate, n int, write func(i int) error) (int, error) {
	p := testlab.Pacer{Rate: rate, Tick: 200 * time.Microsecond}
	return p.Run(ctx, 0, n, func(from, to int) (int, error) {
		for i := from; i < to; i++ {
			if err := write(i); err != nil {
				return i, err
			}
		}
		return to, nil
	})
}
