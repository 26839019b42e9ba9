package check

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
)

// check pull fails an output another sshlogfwd writes: a receiver's
// state beside it, or a pull of another source holding it.
func TestCheckOneWriter(t *testing.T) {
	const src = "web1:/var/log/auth.log"
	dir := t.TempDir()
	free := filepath.Join(dir, "free.log")
	os.WriteFile(free, []byte("x\n"), 0o640)
	received := filepath.Join(dir, "received.log")
	os.WriteFile(received, []byte("x\n"), 0o640)
	os.WriteFile(onewriter.HiddenPath(received), []byte(`{"stream":"ab"}`), 0o600)
	mine := filepath.Join(dir, "mine.log")
	other := filepath.Join(dir, "other.log")
	for path, of := range map[string]string{mine: src, other: "web2:/var/log/auth.log"} {
		l, err := onewriter.Claim(path, onewriter.Holder{Program: onewriter.Pull, Pid: 4242, Of: of})
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	for _, tt := range []struct {
		path  string
		ok    bool
		words []string
	}{
		{free, true, []string{"no other sshlogfwd writes it"}},
		{mine, true, []string{"no other sshlogfwd writes it"}},
		{received, false, []string{"written by sshlogfwd receive", "its own --output"}},
		{other, false, []string{"written by sshlogfwd pull", "web2", "its own --output"}},
	} {
		out, failed := reportOf(func(r *report) { checkOneWriter(r, "--output "+tt.path, tt.path, src) })
		wantReport(t, tt.path, out, failed, tt.ok, tt.words...)
	}
}
