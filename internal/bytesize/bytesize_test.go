package bytesize

import "testing"

func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4096", 4096, true},
		{"256MiB", 256 << 20, true},
		{"256M", 256 << 20, true},
		{"1G", 1 << 30, true},
		{"10k", 10 << 10, true},
		{"2TiB", 2 << 40, true},
		{"64KB", 64 << 10, true},
		{"", 0, false},
		{"lots", 0, false},
		{"-1M", 0, false},
		{"1.5G", 0, false},
		{"99999999999T", 0, false},
		{"1P", 0, false},
	}
	for _, tt := range tests {
		var b Size
		err := b.UnmarshalText([]byte(tt.in))
		if (err == nil) != tt.ok || (tt.ok && int64(b) != tt.want) {
			t.Errorf("Size(%q) = %d, %v; want %d ok=%v", tt.in, b, err, tt.want, tt.ok)
		}
	}
	if s := Size(256 << 20).String(); s != "256MiB" {
		t.Errorf("String = %q", s)
	}
}
