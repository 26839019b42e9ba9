package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// Options configure Run.
type Options struct {
	// Dests each get every line.
	Dests []Dest
	// Input is read until it ends: a FIFO (which never ends) or standard
	// input. Ignored when File is set.
	Input io.Reader
	// File, if set, is followed by name across rotation instead of
	// reading Input; the position is kept with the spool.
	File string
	// FromEnd makes the very first run start following File at its end.
	FromEnd bool
	// Journal, if set, reads the systemd journal (journal.Follow) instead
	// of Input; each entry's cursor is kept with the spool, so that a
	// restart resumes right after the last entry spooled. Its Cursor,
	// Clock and Logger are the engine's to set.
	Journal *journal.Options

	// SpoolDir holds the spool; it is created and locked.
	SpoolDir string
	// SpoolMax bounds the spool; at the bound the oldest lines are
	// dropped and a line on the log host says how many.
	SpoolMax int64

	// Reliable speaks the acknowledged protocol with `sshlogfwd receive`
	// instead of writing into `cat >> FILE`.
	Reliable bool
	// Fsync is how often the spool is made durable (reliable mode and
	// File; default 1 s).
	Fsync time.Duration
	// AckTimeout takes a link with outstanding data and no
	// acknowledgement for this long for dead (reliable mode; default
	// 30 s).
	AckTimeout time.Duration

	// Mark is the interval of timestamp lines (0: none).
	Mark time.Duration
	// Stats is the interval of status lines in our log (0: none).
	Stats time.Duration
	// BackoffMax is the longest wait between reconnects.
	BackoffMax time.Duration
	// DrainTimeout bounds the delivery of what is spooled once the run
	// stops.
	DrainTimeout time.Duration
	// ReadyMarker is the line ssh prints on stderr once connected (see
	// execssh.Options.ReadyMarker). In compatible mode nothing is written
	// into a child before it: what goes into a child that then fails to
	// connect dies with it. Empty: children count as ready at once.
	ReadyMarker string
	// Hostname is the host name in our own lines (marks, notices of
	// dropped lines); default "localhost".
	Hostname string

	// Reach, if set, is how the command line reached Dests: it is
	// recorded in the spool directory with them and the mode (Record),
	// for `sshlogfwd spool deliver`, and the run warns about spools
	// beside its own that no push delivers (warnStranded). Nil: neither.
	Reach *Reach

	// Notify, if set, hears when the run is ready (the spool recovered,
	// the input open), its state line, watchdog pings from the report
	// pass, and the stop (internal/sdnotify).
	Notify sdnotify.Notifier
	// Metrics, if set, gets the run's metrics (docs/metrics.md) every
	// MetricsEvery and once more at the end.
	Metrics      metrics.Sink
	MetricsEvery time.Duration

	Clock  clock.Clock
	Logger *slog.Logger

	// supervise replaces superviseSSH in tests.
	supervise superviseFunc
}

// superviseFunc runs one destination's children until ctx ends, handing
// each to session and its result, once it has exited, to exited.
type superviseFunc func(ctx context.Context, d *destination, session func(context.Context, Link) bool, exited func(error)) error

// Dest is one destination and the ssh command line that reaches it.
type Dest struct {
	execssh.Dest
	Argv []string
}

// Frame and window sizes of the reliable mode: big frames keep the
// per-line cost near zero, and up to relWindow bytes are sent ahead of the
// acknowledgements, so the link never waits for the far side's fsync.
const (
	relFrameMax = 256 << 10
	relWindow   = 16 << 20
)

// engine is one run of push.
type engine struct {
	opts     Options
	clock    clock.Clock
	log      *slog.Logger
	dests    []*destination
	src      *pipe.Source // Options.Input, when its bytes are moved
	sp       *spool.Spool
	lw       *spool.LineWriter
	drain    *drain
	progress chan struct{} // a destination's delivered position moved

	frameMax, window int64 // reliable mode; tests make them small
	supervise        superviseFunc

	beat    *sdnotify.Heartbeat // nil: no service manager to tell
	metrics *metrics.Writer     // nil: no metrics file
	ages    ageMarks
}

// destination is one Dest with its view of the spool and what it
// remembers across sessions.
type destination struct {
	execssh.Dest
	argv       []string
	name       string // "ssh[host]"
	consumer   *spool.Consumer
	progress   chan<- struct{}
	sent       atomic.Int64 // bytes written into ssh
	reconnects atomic.Int64
	settling   settling // compatible mode
	gap        gapState // reliable mode
	outage     outage
	refusal    refusal
	stats      destStats
	log        *slog.Logger

	resumeFailing atomic.Bool // compatible mode: see saveResume
}

// ack records that everything before pos is delivered.
func (d *destination) ack(pos int64) {
	d.stats.ack(d.consumer, pos)
	d.logDelivered(pos)
	select {
	case d.progress <- struct{}{}:
	default:
	}
}

// Run forwards until ctx ends (then it delivers what is buffered, within
// the drain timeout), or until Input ends and everything read has been
// delivered. It returns an error only when it cannot start (the spool, the
// input) or cannot run ssh at all.
func Run(ctx context.Context, opts Options) error {
	e, err := newEngine(opts)
	if err != nil {
		return err
	}
	lock, err := lockSpool(opts.SpoolDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	if opts.Reach != nil {
		if err := writeRecord(opts.SpoolDir, e.record()); err != nil {
			e.log.Warn("spool deliver will not know this spool's destinations", "err", err)
		}
		e.warnStranded()
	}
	e.pipeSource()
	if e.src != nil {
		defer e.src.Close()
	}
	// Following a file or the journal, every spooled byte goes to disk at
	// once, with the input's position (see follower, journalInput): after
	// a crash the spool and the position agree, so nothing is read twice
	// or skipped. Input moved from a pipe goes into the segment files too
	// (see pipeInput).
	sp, err := spool.Open(spool.Options{Dir: opts.SpoolDir, Max: opts.SpoolMax, Logger: e.log, Durable: e.durable()})
	if err != nil {
		return err
	}
	defer func() {
		if err := sp.Close(); err != nil {
			e.log.Error("saving spool failed", "dir", opts.SpoolDir, "err", err)
		}
	}()
	e.attach(sp)
	in, err := e.openInput()
	if err != nil {
		return err
	}
	defer in.close()
	e.beat.Ready(e.statusLine())
	return e.run(ctx, in)
}

func newEngine(opts Options) (*engine, error) {
	if len(opts.Dests) == 0 {
		return nil, errors.New("push: no destination")
	}
	if opts.Input == nil && opts.File == "" && opts.Journal == nil {
		return nil, errors.New("push: no input")
	}
	if opts.Fsync <= 0 {
		opts.Fsync = time.Second
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 30 * time.Second
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	e := &engine{
		opts:     opts,
		clock:    clock.OrReal(opts.Clock),
		log:      opts.Logger,
		progress: make(chan struct{}, 1),
		frameMax: relFrameMax,
		window:   relWindow,
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.drain = newDrain(e.clock, opts.DrainTimeout)
	e.supervise = opts.supervise
	if e.supervise == nil {
		e.supervise = e.superviseSSH
	}
	for _, d := range opts.Dests {
		e.dests = append(e.dests, &destination{Dest: d.Dest, argv: d.Argv, name: "ssh[" + d.Target() + "]", progress: e.progress, log: e.log,
			stats: destStats{clock: e.clock}})
	}
	e.beat = sdnotify.NewHeartbeat(opts.Notify, e.clock, e.log)
	e.metrics = metrics.NewWriter(opts.Metrics, e.collect, e.log)
	return e, nil
}

// lockSpool creates dir and takes its lock, so that two forwarders never
// share one spool.
func lockSpool(dir string) (*fsutil.Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	lock, err := fsutil.TryLockFile(filepath.Join(dir, "lock"), fmt.Sprintf("pid %d sshlogfwd push", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("lock spool %s: %w", dir, err)
	}
	return lock, nil
}

// attach gives the engine its spool: a consumer per destination, and the
// line writer the input and the marks share.
func (e *engine) attach(sp *spool.Spool) {
	e.sp = sp
	e.lw = &spool.LineWriter{S: sp}
	for _, d := range e.dests {
		d.consumer = sp.Consumer(d.String())
	}
}

// run reads the input and delivers the spool until the run stops, then
// drains.
func (e *engine) run(ctx context.Context, in input) error {
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	// runCtx ends the supervisors (and puts the sessions into the drain);
	// readCtx ends the reader.
	runCtx, endRun := context.WithCancel(life)
	defer endRun()
	readCtx, stopReading := context.WithCancel(life)
	defer stopReading()
	readerDone := make(chan error, 1)
	go func() { readerDone <- in.run(readCtx) }()
	wg, sshErr := e.connectAll(life, runCtx, endRun)
	periodic := e.startPeriodic(runCtx)
	defer e.startReporting()()

	select {
	case <-ctx.Done():
		e.beat.Stopping(e.stoppingLine())
		e.log.Info("stopping: delivering buffered lines", "drain_timeout", e.opts.DrainTimeout)
		stopReading()
		e.awaitReader(readerDone)
		in.end()
	case err := <-readerDone:
		if err != nil {
			e.log.Error("reading input failed", "err", err)
		}
		in.end()
		e.beat.Stopping(e.stoppingLine())
		e.log.Info("input ended; delivering what is buffered")
		if !e.waitDelivered(ctx) {
			e.log.Info("stopping: delivering buffered lines", "drain_timeout", e.opts.DrainTimeout)
		}
	case err := <-sshErr:
		return fmt.Errorf("cannot run ssh: %w", err)
	}
	e.drain.begin(life)
	endRun()
	wg.Wait()
	periodic.Wait()
	e.report()
	return nil
}

// connectAll starts a supervisor per destination, whose sessions see
// stop as the stop of the run. A supervisor outlives the stop while its
// destination has undelivered lines, so that the drain reconnects a link
// that is down at that moment (endWhenDrained). A supervisor that cannot
// run ssh at all ends the run.
func (e *engine) connectAll(life, stop context.Context, endRun func()) (*sync.WaitGroup, <-chan error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(e.dests))
	ends := make([]context.CancelFunc, len(e.dests))
	for i, d := range e.dests {
		session := e.appendTo
		if e.opts.Reliable {
			session = e.sendTo
		}
		ctx, end := context.WithCancel(life)
		ends[i] = end
		wg.Go(func() {
			defer end()
			run := func(_ context.Context, l Link) bool { return session(stop, d, l) }
			exited := func(err error) {
				e.exited(d, err)
				d.stats.exited(err, stop.Err() != nil)
			}
			if err := e.supervise(ctx, d, run, exited); err != nil {
				errs <- err
				endRun()
			}
		})
	}
	go e.endWhenDrained(life, stop, ends)
	return &wg, errs
}

// endWhenDrained ends, once the run has stopped, each destination's
// supervisor (ends[i] for e.dests[i]) as soon as the destination has had
// everything, and all of them when the drain timeout passes.
func (e *engine) endWhenDrained(life, stop context.Context, ends []context.CancelFunc) {
	select {
	case <-stop.Done():
	case <-life.Done():
		return
	}
	for left := len(ends); ; {
		for i, d := range e.dests {
			if ends[i] != nil && d.consumer.Pending() == 0 {
				ends[i]()
				ends[i] = nil
				left--
			}
		}
		if left == 0 {
			return
		}
		select {
		case <-e.progress:
		case <-e.drain.expired():
			for _, end := range ends {
				if end != nil {
					end()
				}
			}
			return
		case <-life.Done():
			return
		}
	}
}

// superviseSSH keeps d's ssh child running (execssh.Supervisor) until ctx
// ends, with the backoff on the engine's clock.
func (e *engine) superviseSSH(ctx context.Context, d *destination, session func(context.Context, Link) bool, exited func(error)) error {
	sup := &execssh.Supervisor{
		Name:        d.name,
		Argv:        func() ([]string, error) { return d.argv, nil },
		ReadyMarker: e.opts.ReadyMarker,
		WantStdout:  e.opts.Reliable,
		Target:      d.Target(),
		Doing:       "delivering",
		Explain:     e.explain(d),
		Clock:       e.clock,
		Logger:      e.log,
		Backoff:     backoff.Backoff{Min: 250 * time.Millisecond, Max: e.opts.BackoffMax},
		Sleep:       func(ctx context.Context, d time.Duration) error { return clock.Sleep(ctx, e.clock, d) },
		OnExit:      exited,
	}
	return sup.Run(ctx, func(sctx context.Context, c *execssh.Child) bool { return session(sctx, child{c}) })
}

// exited settles what an ended child of d was given; the link is down
// until the next connect.
func (e *engine) exited(d *destination, err error) {
	d.reconnects.Add(1)
	d.settling.exited(d, err)
	d.outage.lost(e.clock.Now(), e.sp.Stats().AppendedLines)
}

// startPeriodic starts the marks, the status lines and (durable spool)
// the spool syncs, until ctx ends.
func (e *engine) startPeriodic(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	every := func(d time.Duration, fn func(time.Time)) {
		wg.Go(func() { clock.Every(ctx, e.clock, d, fn) })
	}
	if e.opts.Mark > 0 {
		every(e.opts.Mark, func(now time.Time) {
			if err := e.lw.WriteLine(e.markLine(now)); err != nil {
				e.log.Error("spooling mark failed", "err", err)
			}
		})
	}
	if e.opts.Stats > 0 {
		every(e.opts.Stats, func(time.Time) { e.logStats() })
	}
	if e.syncs() {
		failing := false
		every(e.opts.Fsync, func(time.Time) { failing = e.syncSpool(failing) })
	}
	return &wg
}

// durable reports whether the spool is kept on disk: for reliable mode,
// for a followed file or the journal, whose position goes with the
// spool, and for input moved from a pipe, which goes straight into the
// spool's files.
func (e *engine) durable() bool { return e.syncs() || e.src != nil }

// syncs reports whether the spool is made durable every Fsync: for
// reliable mode, a followed file and the journal. Compatible mode with a
// pipe keeps the spool on disk for the sake of a killed process (the page
// cache survives it), and does not sync it, as it never did.
func (e *engine) syncs() bool {
	return e.opts.Reliable || e.opts.File != "" || e.opts.Journal != nil
}

// syncSpool makes the spool durable and reports whether that failed. A
// failure is logged when it starts, with its cause, and its end when it
// ends, not every time.
func (e *engine) syncSpool(failing bool) bool {
	err := e.sp.Sync()
	switch {
	case err != nil && !failing:
		e.log.Error("syncing the spool failed; a crash of this machine could lose what is not synced; retrying every --fsync", "err", err, "fsync", e.opts.Fsync)
	case err == nil && failing:
		e.log.Info("syncing the spool works again")
	}
	return err != nil
}

// awaitReader gives the reader, told to stop, a moment to take what is
// already in a FIFO. Standard input may be a blocking descriptor that
// nothing can interrupt: then it is left behind.
func (e *engine) awaitReader(done <-chan error) {
	t := e.clock.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C():
	}
}

// waitDelivered waits until every destination has had everything, or ctx
// ends (false).
func (e *engine) waitDelivered(ctx context.Context) bool {
	for {
		done := true
		for _, d := range e.dests {
			if d.consumer.Pending() > 0 {
				done = false
			}
		}
		if done {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-e.progress:
		}
	}
}

// report says what is left in the spool, and the final status.
func (e *engine) report() {
	for _, d := range e.dests {
		if n := d.consumer.Pending(); n > 0 {
			e.log.Warn("not delivered before exit; kept in the spool for the next start", "dest", d.String(), "bytes", n, "spool", e.opts.SpoolDir)
		}
	}
	e.logStats()
}
