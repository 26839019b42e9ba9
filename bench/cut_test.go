package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// cutConfig is the keepalive push's ssh runs with (execssh.Defaults).
const cutConfig = "ServerAliveInterval=10, ServerAliveCountMax=3"

// cut puts a second sshd in a network namespace behind a veth pair, runs a
// push to it at 100 lines/s, takes the far end of the pair down (packets
// vanish, nothing is refused or reset) and measures until push's ssh gives
// up, then brings the link back and measures until lines arrive again.
func (l *lab) cut(r *Recovery, size int) {
	r.CutConfig = cutConfig
	ip := func(args ...string) error {
		out, err := exec.Command("/usr/sbin/ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if os.Geteuid() != 0 {
		r.CutNote = "not measured: creating a network namespace needs root"
		return
	}
	ns := testlab.CreateNetNS(l.tb)
	pid := os.Getpid()
	near, far := fmt.Sprintf("sbn%d", pid%100000), fmt.Sprintf("sbf%d", pid%100000)
	net := fmt.Sprintf("10.251.%d", pid%250)
	for _, args := range [][]string{
		{"link", "add", near, "type", "veth", "peer", "name", far, "netns", ns},
		{"addr", "add", net + ".1/30", "dev", near},
		{"link", "set", near, "up"},
		{"-n", ns, "addr", "add", net + ".2/30", "dev", far},
		{"-n", ns, "link", "set", far, "up"},
	} {
		if err := ip(args...); err != nil {
			r.CutNote = "not measured: " + err.Error()
			return
		}
	}
	l.tb.Cleanup(func() { _ = ip("link", "del", near) })
	sshd := testlab.StartSSHD(l.tb, testlab.SSHDOptions{NetNS: ns, ListenAddress: net + ".2", Extra: sshdExtra})
	sshd.SetAuthorizedKeys(l.tb, "restrict "+sshd.ClientPub)

	fifo, remote := l.path("cut.fifo"), l.path("cut.out")
	defer os.Remove(remote)
	args := l.pushArgs(fifo, remote, true, false, "--backoff-max", "1s")
	args[len(args)-1] = sshd.Alias + ":" + remote
	p := l.startConfig(sshd.SSHConfig, args...)
	defer p.stop(15 * time.Second)
	if err := waitFile(remote, 30*time.Second, p); err != nil {
		r.CutNote = "not measured: " + err.Error()
		return
	}
	f, err := openFIFO(fifo, 10*time.Second)
	if err != nil {
		l.tb.Fatal(err)
	}
	defer f.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ln := streamLines(size)
	go pace(ctx, 100, 1<<30, func(i int) error {
		_, err := f.Write(ln.Line(i))
		return err
	})
	time.Sleep(3 * time.Second)
	child := p.sshChild()
	if child == 0 {
		r.CutNote = "not measured: push has no ssh child"
		return
	}
	if err := ip("-n", ns, "link", "set", far, "down"); err != nil {
		r.CutNote = "not measured: " + err.Error()
		return
	}
	cutAt := time.Now()
	for time.Since(cutAt) < 3*time.Minute && p.sshChild() == child {
		time.Sleep(10 * time.Millisecond)
	}
	if p.sshChild() == child {
		r.CutNote = "ssh did not give up within 3 minutes of the cut"
		return
	}
	r.CutDetect = Seconds(time.Since(cutAt).Seconds())
	r.CutMeasured = true
	sizeAtUp := fileSize(remote)
	if err := ip("-n", ns, "link", "set", far, "up"); err != nil {
		r.CutNote = err.Error()
		return
	}
	upAt := time.Now()
	for time.Since(upAt) < time.Minute {
		if fileSize(remote) > sizeAtUp {
			r.CutResume = Seconds(time.Since(upAt).Seconds())
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}
