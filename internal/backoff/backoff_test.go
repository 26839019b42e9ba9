package backoff

import (
	"reflect"
	"testing"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 250e6, Max: 2e9, Jitter: func() float64 { return 0.5 }} // no jitter at 0.5
	var got []int64
	for range 6 {
		got = append(got, int64(b.Next()/1e6))
	}
	want := []int64{250, 500, 1000, 2000, 2000, 2000}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delays %v ms, want %v", got, want)
	}
	b.Reset()
	if d := b.Next(); d != 25e6 {
		t.Errorf("first retry after Reset: %v, want 25ms (0-50 ms)", d)
	}
	if d := b.Next(); d != 250e6 {
		t.Errorf("second retry after Reset: %v, want 250ms", d)
	}
	j := Backoff{Min: 1e9, Max: 1e9, Jitter: func() float64 { return 0.999 }}
	if d := j.Next(); d < 1.19e9 || d > 1.2e9 {
		t.Errorf("jitter at top: %v, want ~1.2s", d)
	}
}
