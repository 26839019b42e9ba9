package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// growth watches a file until it holds want bytes, recording when its first
// byte and its last one were there. It polls every millisecond: the same
// for every mode, and fine enough for runs of a second or more.
type growth struct {
	First, Last time.Time
	Size        int64
}

// watchGrowth returns when path reaches want bytes, or with an error when
// it has not grown for stall.
func watchGrowth(path string, base, want int64, stall time.Duration) (growth, error) {
	var g growth
	lastChange := time.Now()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for range t.C {
		fi, err := os.Stat(path)
		now := time.Now()
		if err != nil {
			if now.Sub(lastChange) > stall {
				return g, fmt.Errorf("%s: %w", path, err)
			}
			continue
		}
		size := fi.Size()
		if size != g.Size {
			lastChange = now
			g.Size = size
		}
		if g.First.IsZero() && size > base {
			g.First = now
		}
		if size >= want {
			g.Last = now
			return g, nil
		}
		if now.Sub(lastChange) > stall {
			return g, fmt.Errorf("%s stuck at %d of %d bytes for %v", path, size, want, stall)
		}
	}
	return g, nil
}

// mono is CLOCK_MONOTONIC in nanoseconds: the clock the latency lines are
// stamped with, comparable across processes on this machine.
func mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// lineWatch follows a growing file with inotify and hands every complete
// line to a callback with the monotonic time it was read at.
type lineWatch struct {
	stop chan struct{}
	done chan struct{}
	err  error
}

func watchLines(path string, onLine func(line []byte, at int64)) (*lineWatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(ifd, path, unix.IN_MODIFY); err != nil {
		f.Close()
		unix.Close(ifd)
		return nil, fmt.Errorf("inotify watch %s: %w", path, err)
	}
	w := &lineWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer f.Close()
		defer unix.Close(ifd)
		buf := make([]byte, 1<<20)
		events := make([]byte, 64<<10)
		var partial []byte
		fds := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			// A timeout too, so that stop is noticed and nothing waits on
			// a coalesced event.
			if _, err := unix.Poll(fds, 20); err != nil && !errors.Is(err, unix.EINTR) {
				w.err = err
				return
			}
			for {
				if _, err := unix.Read(ifd, events); err != nil {
					break
				}
			}
			for {
				n, err := f.Read(buf)
				at := mono()
				if n > 0 {
					data := buf[:n]
					if len(partial) > 0 {
						data = append(partial, data...)
						partial = nil
					}
					for {
						i := bytes.IndexByte(data, '\n')
						if i < 0 {
							break
						}
						onLine(data[:i], at)
						data = data[i+1:]
					}
					if len(data) > 0 {
						partial = append([]byte(nil), data...)
					}
				}
				if n == 0 || err != nil {
					break
				}
			}
		}
	}()
	return w, nil
}

func (w *lineWatch) Stop() error {
	close(w.stop)
	<-w.done
	return w.err
}
