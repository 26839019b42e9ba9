package push

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// recordFile is the file in a spool directory where push records what
// fills it (Record).
const recordFile = "push.json"

// Record is what a spool directory remembers of the push that fills it:
// its destinations, its mode and how it reached them. Lines left in a
// spool no push runs on any more (a typo in a DEST fixed, a DEST dropped)
// can then be delivered without guessing the old command line:
// `sshlogfwd spool deliver DIR` runs the same ssh in the same mode.
type Record struct {
	Dests    []string `json:"dests"`
	Reliable bool     `json:"reliable,omitempty"`
	// File is the file push followed (--file), for the listing.
	File     string `json:"file,omitempty"`
	SpoolMax int64  `json:"spool_max,omitempty"`
	Reach    Reach  `json:"reach"`
}

// Reach is how push's command line reached its destinations: the ssh
// settings and the far-side command, as given, with paths made absolute
// so that they mean the same from another directory.
type Reach struct {
	SSH             string        `json:"ssh,omitempty"`
	Identity        string        `json:"identity,omitempty"`
	Port            int           `json:"port,omitempty"`
	SSHConfig       string        `json:"ssh_config,omitempty"`
	SSHOptions      []string      `json:"ssh_options,omitempty"`
	NoCompress      bool          `json:"no_compress,omitempty"`
	RemoteCommand   string        `json:"remote_command,omitempty"`
	RemoteSSHLogfwd string        `json:"remote_sshlogfwd,omitempty"`
	AckTimeout      time.Duration `json:"ack_timeout,omitempty"`
}

// record is what this run records in its spool directory.
func (e *engine) record() Record {
	r := Record{Reliable: e.opts.Reliable, File: e.opts.File, SpoolMax: e.opts.SpoolMax, Reach: *e.opts.Reach}
	if r.File != "" {
		if abs, err := filepath.Abs(r.File); err == nil {
			r.File = abs
		}
	}
	for _, d := range e.dests {
		r.Dests = append(r.Dests, d.String())
	}
	return r
}

// writeRecord saves r in the spool directory dir.
func writeRecord(dir string, r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(filepath.Join(dir, recordFile), append(b, '\n'), 0o600, true); err != nil {
		return fmt.Errorf("record the destinations in the spool: %w", err)
	}
	return nil
}

// recordLimit bounds what is read of a record file.
const recordLimit = 64 << 10

// ReadRecord reads what push recorded in the spool directory dir. A
// directory without a record is fs.ErrNotExist; one that is not a regular
// file of ours, fsutil.ErrUnsafe.
func ReadRecord(dir string) (Record, error) {
	var r Record
	b, err := fsutil.ReadOwned(filepath.Join(dir, recordFile), recordLimit)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
	}
	if len(r.Dests) == 0 {
		return r, fmt.Errorf("%s names no destination", filepath.Join(dir, recordFile))
	}
	return r, nil
}
