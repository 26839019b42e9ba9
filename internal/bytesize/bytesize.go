// Package bytesize is the size flags are given in (--spool-max,
// --max-size): 256MiB, 10M, 1G or 4096, read and written alike by the
// command line and by the engines' messages about it.
package bytesize

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Size is a size in bytes written like 256MiB, 10M, 1G or 4096.
type Size int64

var sizeRE = regexp.MustCompile(`^(\d+)\s*([kKmMgGtT]?)(i?[bB]?)$`)

// UnmarshalText parses a size; K, M, G, T are powers of 1024 with or
// without "iB".
func (b *Size) UnmarshalText(text []byte) error {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(string(text)))
	if m == nil {
		return fmt.Errorf("size %q: want a number with an optional unit K, M, G, T (e.g. 256MiB)", text)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("size %q: %w", text, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[strings.ToLower(m[2])]
	if n > (1<<62)>>shift {
		return fmt.Errorf("size %q is too large", text)
	}
	*b = Size(n << shift)
	return nil
}

// String is the size in the largest unit that divides it, or in bytes.
func (b Size) String() string {
	for _, u := range []struct {
		s string
		n int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(b) >= u.n && int64(b)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(b)/u.n, u.s)
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
