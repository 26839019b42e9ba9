package pull

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A write that fails halfway (here the file size limit, as a full disk
// would) leaves the output as it was before it: a retry must not write
// the first half twice.
func TestOutputWriteAllOrNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	head := bytes.Repeat([]byte("x"), 1<<20)
	if err := os.WriteFile(path, head, 0o640); err != nil {
		t.Fatal(err)
	}
	o, err := openOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = uint64(len(head)) + 100 // SIGXFSZ is ignored by the Go runtime
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	err = o.write(bytes.Repeat([]byte("y"), 300))
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil {
		t.Fatal("a write beyond the file size limit succeeded")
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(head)) {
		t.Fatalf("output is %d bytes after the failed write, want %d (%v)", fi.Size(), len(head), err)
	}
	if err := o.write([]byte("z\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, append(head, "z\n"...)) {
		t.Fatalf("output ends %q after the retry", b[len(b)-10:])
	}
}
