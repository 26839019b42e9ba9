package tailer

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// startWatching watches the parent directory with inotify, or switches to
// polling if that is not possible. The directory, not the file, is watched:
// a watch on the file is dropped when the file is renamed.
func (t *Tailer) startWatching() {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.fallBack("cannot create an inotify watcher", err)
		return
	}
	if err := w.Add(t.dir); err != nil {
		w.Close()
		t.fallBack("cannot watch the directory "+t.dir, err)
		return
	}
	t.watcher = w
	t.wg.Add(1)
	go t.watch(w)
}

// fallBack switches to polling for the rest of the Tailer's life.
func (t *Tailer) fallBack(why string, err error) {
	t.polling.Store(true)
	t.log.Warn("polling the file instead of using inotify", "reason", why, "err", err, "interval", t.pollInterval)
	t.signal()
}

// signal wakes Next. The channel holds one wake-up; more are redundant,
// because Next looks at the whole state of the files when it wakes.
func (t *Tailer) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// watch turns directory events into wake-ups for Next. It drains both the
// Events and the Errors channel at all times: fsnotify blocks on an unread
// channel, and then the kernel queue overflows.
func (t *Tailer) watch(w *fsnotify.Watcher) {
	defer t.wg.Done()
	for {
		select {
		case <-t.done:
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == t.dir {
				if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					// The watch went with the directory.
					t.fallBack("the watched directory was removed or renamed", nil)
					w.Close()
					return
				}
				continue
			}
			// name.1, name-20240101 and so on count too: after a rename,
			// writes to the old file show under its new name.
			if strings.HasPrefix(filepath.Base(ev.Name), t.base) {
				t.signal()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
				// Events were lost or cannot be had; stat is always right.
				t.fallBack("inotify cannot keep up or is out of resources", err)
				w.Close()
				return
			}
			t.log.Warn("inotify error; checking the file", "err", err)
			t.signal()
		}
	}
}
