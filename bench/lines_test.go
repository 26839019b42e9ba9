package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// numbered returns line i of a throughput stream, size bytes long with its
// newline: "L00000042 " and then an sshd log line whose numbers and key hash
// vary from line to line, so that ssh -C compresses it about as well as a
// real auth log (repetitive padding would compress 50-fold and make -C look
// free).
func numbered(i, size int) []byte {
	return appendNumbered(make([]byte, 0, size), i, size)
}

const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func appendNumbered(b []byte, i, size int) []byte {
	start := len(b)
	h := splitmix(uint64(i))
	b = fmt.Appendf(b, "L%08d %02d:%02d:%02d web%d sshd[%d]: Accepted publickey for u%d from 10.%d.%d.%d port %d SHA256:",
		i, h%24, h>>5%60, h>>11%60, h>>17%9, h>>21%32768, h>>36%500, h>>45%256, h>>53%256, i%256, 1024+i%64000)
	for len(b)-start < size-1 {
		h = splitmix(h)
		for k := 0; k < 10 && len(b)-start < size-1; k++ {
			b = append(b, b64[h>>(6*k)&63])
		}
	}
	return append(b[:start+size-1], '\n')
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

// genLines is lines 0..n-1.
func genLines(n, size int) []byte {
	b := make([]byte, 0, n*size)
	for i := 0; i < n; i++ {
		b = appendNumbered(b, i, size)
	}
	return b
}

// lineCheck counts what arrived of lines 0..n-1.
type lineCheck struct {
	Received, Lost, Dup, OutOfOrder, Torn, Other int
}

func (c lineCheck) String() string {
	return fmt.Sprintf("received %d, lost %d, duplicated %d, out of order %d, torn %d, other %d",
		c.Received, c.Lost, c.Dup, c.OutOfOrder, c.Torn, c.Other)
}

// checkNumbered compares data with the expected lines 0..n-1; want, if
// given, is the exact expected content (a fast path for the usual case).
func checkNumbered(data, want []byte, n, size int) lineCheck {
	if want != nil && bytes.Equal(data, want) {
		return lineCheck{Received: n}
	}
	var c lineCheck
	seen := make([]bool, n)
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != 'L' {
			c.Other++
			continue
		}
		i, err := strconv.Atoi(string(line[1:min(9, len(line))]))
		if err != nil || i < 0 || i >= n || !bytes.Equal(append(line, '\n'), numbered(i, size)) {
			c.Torn++
			continue
		}
		c.Received++
		if seen[i] {
			c.Dup++
		}
		seen[i] = true
		if i < last {
			c.OutOfOrder++
		}
		last = i
	}
	for _, s := range seen {
		if !s {
			c.Lost++
		}
	}
	return c
}

// pace calls write(i) for i = 0..n-1 at rate calls per second, in the small
// bursts a sleeping loop allows, and stops early when stop is closed.
func pace(rate, n int, stop <-chan struct{}, write func(i int) error) (int, error) {
	start := time.Now()
	i := 0
	for i < n {
		due := min(n, int(time.Since(start).Seconds()*float64(rate))+1)
		for ; i < due; i++ {
			if err := write(i); err != nil {
				return i, err
			}
		}
		select {
		case <-stop:
			return i, nil
		default:
		}
		time.Sleep(200 * time.Microsecond)
	}
	return i, nil
}
