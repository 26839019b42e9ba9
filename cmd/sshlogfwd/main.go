// Command sshlogfwd ships a host's important log lines to another machine
// through the system OpenSSH client, so that an intruder who gets root on
// the logged host cannot erase the trail.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/sshlogfwd/sshlogfwd/internal/logfile"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// CLI is the whole command line.
type CLI struct {
	LogFlags
	ProfileFlags

	Push          PushCmd          `cmd:"" help:"Forward lines from a FIFO (or standard input) to a file on another host."`
	Pull          PullCmd          `cmd:"" help:"Follow a file on another host and append it here, resuming exactly after breaks and restarts."`
	Serve         ServeCmd         `cmd:"" help:"Stream a file to pull; meant as the forced command of a restricted key."`
	Receive       ReceiveCmd       `cmd:"" help:"Append what push --reliable sends to a file and acknowledge it once on disk; meant as the forced command of a restricted key."`
	AuthorizedKey AuthorizedKeyCmd `cmd:"" name:"authorized-key" help:"Print the authorized_keys line that restricts a key to appending to (push) or reading (pull) one file."`
	Check         CheckCmd         `cmd:"" help:"Check a push or pull setup end to end: one line per check, OK or FAIL with the fix; exit 0 only if all are OK."`
	Spool         SpoolCmd         `cmd:"" help:"List push's spool directories, and deliver or discard the lines left in one no push runs on (a DEST since corrected or dropped)."`
	Version       VersionCmd       `cmd:"" help:"Print the version, the commit, the Go version and the ssh client found in $PATH."`
	Man           ManCmd           `cmd:"" hidden:"" help:"Print the manual page sshlogfwd(1) in roff."`
}

// LogFlags control our own diagnostics.
type LogFlags struct {
	Log       string `help:"Write our own diagnostics to FILE (appended; default standard error). SIGHUP reopens it, for logrotate." placeholder:"FILE"`
	LogFormat string `help:"Diagnostics format: text or json." enum:"text,json" default:"text"`
	LogLevel  string `help:"Least important diagnostics shown: debug, info, warn, error." enum:"debug,info,warn,error" default:"info"`
}

const description = `Ship log lines to another host through the system OpenSSH client.

  push        on the watched host: FIFO, file or stdin -> "ssh loghost 'cat >> FILE'"
              (or, with --reliable, "sshlogfwd receive FILE": acknowledged, exactly once)
  pull        on the log host: fetch a file from the watched host ("sshlogfwd serve FILE"
              there, or tail -F with --compat), resuming exactly
  receive, serve    the far sides, meant as forced commands in authorized_keys
  authorized-key    print the restricted authorized_keys line for a key
  check       test a setup end to end: is the key really restricted?
  spool       list push's spools; deliver or discard lines left for a DEST no longer given

Lines wait in a bounded spool (memory, then disk) while the link is down, so the
syslog daemon never finds the FIFO full. Every flag can also be set with an
environment variable SSHLOGFWD_<FLAG> (e.g. SSHLOGFWD_FIFO=/run/sshlogfwd/push.fifo),
except under sshd and in receive and serve: there only the command line counts.

Exit status: 0 done, 1 failed (the cause is logged), 2 usage error or refused
request.`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// Signals first: a SIGTERM that arrives while we start must still
	// mean "stop in order", not death by the default action.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var cli CLI
	kctx, err := parse(&cli, args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sshlogfwd:", err)
		return exitUsage
	}
	logOut, err := logfile.Open(cli.Log)
	if err != nil {
		return errorOut{stderr: os.Stderr}.exitStatus(usage.Path("--log", err))
	}
	defer logOut.Close()
	log := logfile.NewLogger(logOut, cli.LogFormat, cli.LogLevel)
	out := errorOut{log: log, stderr: os.Stderr, logIsStderr: cli.Log == ""}
	if !envarsAllowed(kctx.Command(), os.LookupEnv) {
		if names := ignoredEnvars(os.Environ()); len(names) > 0 {
			log.Warn("environment variables ignored: under sshd, and always in receive and serve, every setting comes from the command line", "vars", strings.Join(names, ","))
		}
	}
	stopProfile, err := cli.ProfileFlags.start(request.UnderSSHD(os.LookupEnv))
	if err != nil {
		return out.exitStatus(err)
	}
	defer func() {
		if err := profileError(stopProfile()); err != nil {
			fmt.Fprintln(os.Stderr, "sshlogfwd:", err)
		}
	}()

	reopen := logfile.NewReopener(hup, log)
	reopen.Add("--log", logOut)
	go reopen.Run(ctx)

	kctx.Bind(reopen)
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(log)
	return out.exitStatus(kctx.Run())
}

// parse parses args into cli.
func parse(cli *CLI, args []string) (*kong.Context, error) {
	parser, err := newParser(cli)
	if err != nil {
		return nil, err
	}
	return parser.Parse(args)
}

// newParser builds the command line parser for cli. Every flag may come
// from a SSHLOGFWD_<FLAG> variable, except where envarsAllowed says no (see
// CLI.BeforeReset).
func newParser(cli *CLI) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("sshlogfwd"),
		kong.Description(description),
		kong.UsageOnError(),
		kong.DefaultEnvars(envPrefix),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Exit(func(code int) { os.Exit(code) }),
	)
}
