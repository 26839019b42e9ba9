package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestStartupErrorsSayWhatToDo: as a user without root, every path push
// or pull cannot use is refused once, naming the directory, the user and
// what it lacks, with the command that fixes it (the first hour:
// a missing /run/sshlogfwd, one created by root, a home that useradd
// --system did not make, a key only root may read).
func TestStartupErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	testlab.RequireRoot(t, "running as another user")
	pub := publicDir(t)
	rootOnly := filepath.Join(pub, "run-sshlogfwd")
	os.Mkdir(rootOnly, 0o755)
	spool := filepath.Join(pub, "spool")
	os.Mkdir(spool, 0o700)
	os.Chown(spool, nobody, nobody)
	key, _ := testlab.KeyPair(t, pub, "root_key")
	bin := binaryForNobody(t)
	const fixUser = "install -d -o nobody -g nogroup -m "
	for _, tt := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"fifo directory missing", []string{"push", "--spool", spool, "--fifo", filepath.Join(pub, "missing", "push.fifo"), "h:/x.log"}, nil,
			[]string{"--fifo: directory " + filepath.Join(pub, "missing") + " does not exist", fixUser + "0750 " + filepath.Join(pub, "missing")}},
		{"fifo directory of root", []string{"push", "--spool", spool, "--fifo", filepath.Join(rootOnly, "push.fifo"), "h:/x.log"}, nil,
			[]string{"user nobody cannot create files in " + rootOnly + " (owner root, group root, mode 0755)", fixUser + "0750 " + rootOnly}},
		{"fifo in a system directory", []string{"push", "--spool", spool, "--fifo", "/run/push.fifo", "h:/x.log"}, nil,
			[]string{"cannot create files in /run (owner root", "a directory of its own"}},
		{"no home for the default spool", []string{"push", "--fifo", filepath.Join(spool, "push.fifo"), "h:/x.log"}, []string{"HOME=" + filepath.Join(rootOnly, "home")},
			[]string{"--spool: no spool directory: user nobody cannot create " + filepath.Join(rootOnly, "home"), fixUser + "0700 " + filepath.Join(rootOnly, "home"), "give --spool DIR, or set STATE_DIRECTORY"}},
		{"key only root may read", []string{"push", "--spool", spool, "-i", key, "h:/x.log"}, nil,
			[]string{"--identity: user nobody cannot read " + key + " (owner root, group root, mode 0600)", "chown nobody: " + key}},
		{"pull output in a directory of root", []string{"pull", "--output", filepath.Join(rootOnly, "web1.log"), "h:/var/log/auth.log"}, nil,
			[]string{"--output: user nobody cannot create files in " + rootOnly, fixUser + "0750 " + rootOnly}},
		{"pull without a place for the cursor", []string{"pull", "h:/var/log/auth.log"}, []string{"HOME=" + filepath.Join(rootOnly, "home")},
			[]string{"--cursor-file: no place for the cursor: user nobody cannot create " + filepath.Join(rootOnly, "home"), "give --output FILE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := append([]string{"STATE_DIRECTORY=", "XDG_STATE_HOME="}, tt.env...)
			res := runBinary(t, runOpts{uid: nobody, bin: bin, env: env, stdin: strings.NewReader(""), timeout: 20 * time.Second}, tt.args...)
			if res.Code != 2 {
				t.Errorf("want exit 2: %s", res)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, res)
				}
			}
			if n := strings.Count(res.Stderr, tt.want[0]); n != 1 {
				t.Errorf("said %d times, want once: %s", n, res)
			}
		})
	}
}
