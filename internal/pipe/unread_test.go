package pipe

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// TestUnread: what a pipe still holds counts as unread only once its
// reader is gone; a reader left, or no descriptor, tells nothing.
func TestUnread(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(bytes.Repeat([]byte("x"), 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	if n, ok := Unread(w); ok {
		t.Errorf("Unread with the reader open = %d, true; want false", n)
	}
	r.Close()
	if n, ok := Unread(w); !ok || n != 700 {
		t.Errorf("Unread after the reader closed = %d, %v; want 700, true", n, ok)
	}
	if _, ok := Unread(io.Discard); ok {
		t.Error("Unread of a writer without a descriptor says ok")
	}
	w.Close()
	if _, ok := Unread(w); ok {
		t.Error("Unread of a closed write end says ok")
	}
}
