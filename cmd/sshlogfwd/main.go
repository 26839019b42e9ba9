// Command sshlogfwd ships a host's important log lines to another machine
// through the system OpenSSH client, so that an intruder who gets root on
// the logged host cannot erase the trail.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// CLI is the whole command line.
type CLI struct {
	LogFlags

	Push          PushCmd          `cmd:"" help:"Forward lines from a FIFO (or standard input) to a file on another host."`
	Pull          PullCmd          `cmd:"" help:"Follow a file on another host and append it here, resuming exactly after breaks and restarts."`
	Serve         ServeCmd         `cmd:"" help:"Stream a file to pull; meant as the forced command of a restricted key."`
	Receive       ReceiveCmd       `cmd:"" help:"Append what push --reliable sends to a file and acknowledge it once on disk; meant as the forced command of a restricted key."`
	AuthorizedKey AuthorizedKeyCmd `cmd:"" name:"authorized-key" help:"Print the authorized_keys line that restricts a key to appending to (push) or reading (pull) one file."`
	Check         CheckCmd         `cmd:"" help:"Check a push or pull setup end to end: one line per check, OK or FAIL with the fix; exit 0 only if all are OK."`
	Version       VersionCmd       `cmd:"" help:"Print the version."`
}

const description = `Ship log lines to another host through the system OpenSSH client.

  push        on the watched host: FIFO, file or stdin -> "ssh loghost 'cat >> FILE'"
              (or, with --reliable, "sshlogfwd receive FILE": acknowledged, exactly once)
  pull        on the log host: fetch a file from the watched host ("sshlogfwd serve FILE"
              there, or tail -F with --compat), resuming exactly
  receive, serve    the far sides, meant as forced commands in authorized_keys
  authorized-key    print the restricted authorized_keys line for a key
  check       test a setup end to end: is the key really restricted?

Lines wait in a bounded spool (memory, then disk) while the link is down, so the
syslog daemon never finds the FIFO full. Every flag can also be set with an
environment variable SSHLOGFWD_<FLAG> (e.g. SSHLOGFWD_FIFO=/run/sshlogfwd/push.fifo).`

func main() {
	os.Exit(run(os.Args[1:]))
}

// exitUsage is the exit status for usage errors (bad flags, bad paths).
const exitUsage = 2

func run(args []string) int {
	defer startProfile()()
	// Signals first: a SIGTERM that arrives while we start must still
	// mean "stop in order", not death by the default action.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var cli CLI
	parser, err := kong.New(&cli,
		kong.Name("sshlogfwd"),
		kong.Description(description),
		kong.UsageOnError(),
		kong.DefaultEnvars("SSHLOGFWD"),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Exit(func(code int) { os.Exit(code) }),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sshlogfwd:", err)
		return 1
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sshlogfwd:", err)
		return exitUsage
	}
	logOut, err := openLog(cli.Log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sshlogfwd: --log: %v\n", err)
		return exitUsage
	}
	defer logOut.Close()
	log := newLogger(logOut, cli.LogFormat, cli.LogLevel)

	reopen := &reopener{hup: hup, log: log}
	reopen.add("--log", logOut)
	go reopen.loop(ctx)

	kctx.Bind(reopen)
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(log)
	err = kctx.Run()
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(*usageError)):
		log.Error(err.Error())
		fmt.Fprintln(os.Stderr, "sshlogfwd:", err)
		return exitUsage
	default:
		log.Error(err.Error())
		return 1
	}
}

// usageError is a mistake in the command line or in a path it names: exit 2.
type usageError struct {
	flag string
	err  error
}

func (e *usageError) Error() string { return e.flag + ": " + e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usage(flag string, err error) error { return &usageError{flag, err} }

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run() error {
	fmt.Println("sshlogfwd", version)
	return nil
}

func newLogger(w *logFile, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
