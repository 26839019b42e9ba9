package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// lastLineIndex is the number of the last complete numbered line of path,
// or -1.
func lastLineIndex(path string, size int) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < int64(size) {
		return -1
	}
	buf := make([]byte, 2*size)
	off := max(0, fi.Size()-int64(len(buf)))
	n, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return -1
	}
	b := bytes.TrimSuffix(buf[:n], []byte{'\n'})
	b = b[bytes.LastIndexByte(b, '\n')+1:]
	if i, ok := testlab.Number(b); ok {
		return i
	}
	return -1
}

// outage runs push at rate lines/s, stops sshd (sessions killed, listener
// gone) for down, starts it again, and records push's memory and spool
// throughout and how long it takes to deliver the backlog.
func (l *lab) outage(rate int, down time.Duration, size int) *Outage {
	const before, after = 5 * time.Second, 5 * time.Second
	res := &Outage{Rate: rate, Outage: Seconds(down.Seconds()), BackoffMax: 1}
	n := int(float64(rate) * (before + down + after).Seconds())
	fifo, remote := l.path("outage.fifo"), l.path("outage.out")
	defer os.Remove(remote)
	spoolDir := l.path("outage-spool")
	p, f, err := l.startPushFIFO(fifo, remote, true, false, "--backoff-max", "1s", "--spool", spoolDir)
	defer p.stop(30 * time.Second)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer f.Close()
	rss := startSampler(100*time.Millisecond, p.rss)
	defer rss.Stop()
	cpu0, _ := p.cpu()

	written := make(chan int, 1)
	var progress atomic.Int64
	go func() {
		ln := streamLines(size)
		k, _ := pace(context.Background(), rate, n, func(i int) error {
			_, err := f.Write(ln.Line(i))
			progress.Store(int64(i + 1))
			return err
		})
		written <- k
	}()

	time.Sleep(before)
	res.RSSBefore = rss.take()
	l.sshd.Stop(l.tb)
	time.Sleep(down)
	res.SpoolOnDisk = segBytes(spoolDir)
	res.RSSDuring = rss.take()
	atRestart := int(progress.Load()) - 1
	sizeAtRestart := fileSize(remote)
	l.sshd.Start(l.tb)
	restarted := time.Now()
	for time.Since(restarted) < 60*time.Second {
		if res.Reconnect == 0 && fileSize(remote) > sizeAtRestart {
			res.Reconnect = Seconds(time.Since(restarted).Seconds())
		}
		if lastLineIndex(remote, size) >= atRestart {
			res.Drain = Seconds(time.Since(restarted).Seconds())
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if res.Drain == 0 {
		res.Err = fmt.Sprintf("backlog not delivered within 60 s of sshd's restart\n%s", p.tail())
	}
	k := <-written
	res.Written = k
	waitLastLine(remote, size, k-1, 30*time.Second)
	cpu1, _ := p.cpu()
	res.CPUPerMLines = Seconds((cpu1 - cpu0).Seconds() / float64(k) * 1e6)
	time.Sleep(2 * time.Second)
	rss.take()
	res.RSSAfterDrain = p.rss()
	res.HWM = p.hwm()
	got, _ := os.ReadFile(remote)
	chk := checkNumbered(got, nil, k, size)
	res.Received, res.Lost, res.Dup, res.OutOfOrder = chk.Received, chk.Lost, chk.Duplicated, chk.OutOfOrder
	res.Torn = chk.Torn + len(chk.Other)
	return res
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitLastLine waits until path ends with line i or later, or timeout.
func waitLastLine(path string, size, i int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if lastLineIndex(path, size) >= i {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
