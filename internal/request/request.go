package request

import (
	"fmt"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// Program is the base name our forced commands expect in a request.
const Program = "sshlogfwd"

// Append is the remote command of the classic push: cat >> PATH.
func Append(path string) string { return "cat >> " + forcedcmd.ShellQuote(path) }

// Tail is the remote command of pull --compat: it follows PATH by name from
// its end, like the article's tail -f but across rotation.
func Tail(path string) string { return forcedcmd.ShellJoin("tail", "-F", "-n", "0", "--", path) }

// Receive is the request of push --reliable: bin receive -- PATH. Flags,
// if any, go before the "--"; the request push sends has none (a forced
// command in authorized_keys carries the log host's own flags).
func Receive(bin, path string, flags ...string) string {
	words := append([]string{bin, "receive"}, flags...)
	return forcedcmd.ShellJoin(append(words, "--", path)...)
}

// Push is the remote command push runs for its destination path: custom
// (--remote-command) when given, else Receive with the far side's
// sshlogfwd bin for the reliable mode, else Append. push and check push
// both ask here, so that check probes the very command push runs.
func Push(custom string, reliable bool, bin, path string) string {
	switch {
	case custom != "":
		return custom
	case reliable:
		return Receive(bin, path)
	}
	return Append(path)
}

// ReceiveSpec is the one request receive accepts in SSH_ORIGINAL_COMMAND:
// "sshlogfwd receive -- PATH", no flags: the bound and the fsync policy
// belong to authorized_keys.
func ReceiveSpec(path string) forcedcmd.Spec {
	return forcedcmd.Spec{Program: Program, Command: "receive", Path: path}
}

// ServeRequest is what pull asks serve for: resume after Cursor, or, with
// no cursor, start at the file's start or end (From).
type ServeRequest struct {
	Cursor *tailer.Cursor // nil: a fresh start
	From   string         // "start" or "end", for a fresh start
}

// Serve is the request of a reliable pull.
func Serve(bin, path string, r ServeRequest) string {
	words := []string{bin, "serve"}
	switch {
	case r.Cursor != nil:
		words = append(words, "--cursor", r.Cursor.String())
	case r.From != "":
		words = append(words, "--from", r.From)
	}
	return forcedcmd.ShellJoin(append(words, "--", path)...)
}

// ServeSpec is the one request serve accepts in SSH_ORIGINAL_COMMAND.
func ServeSpec(path string) forcedcmd.Spec {
	return forcedcmd.Spec{
		Program: Program,
		Command: "serve",
		Flags: []forcedcmd.Flag{
			{Name: "cursor", Value: "DEV:INO:OFF", Check: func(v string) error { _, err := tailer.ParseCursor(v); return err }},
			{Name: "from", Value: "start|end", Check: checkFrom},
		},
		Path: path,
	}
}

func checkFrom(v string) error {
	if v != "start" && v != "end" {
		return fmt.Errorf("%q is not start or end", v)
	}
	return nil
}

// ParseServe checks the client's request original against serve's grammar
// for path. A request without --cursor or --from starts at the end, like
// tail -f. A refused request is a *forcedcmd.Error.
func ParseServe(path, original string) (ServeRequest, error) {
	r, err := ServeSpec(path).Parse(original)
	if err != nil {
		return ServeRequest{}, err
	}
	req := ServeRequest{From: "end"}
	if v, ok := r.Flags["from"]; ok {
		req.From = v
	}
	if v, ok := r.Flags["cursor"]; ok {
		c, _ := tailer.ParseCursor(v) // checked by the spec
		req.Cursor = &c
	}
	return req, nil
}

// ParseReceive checks the client's request original against receive's
// grammar for path. A refused request is a *forcedcmd.Error.
func ParseReceive(path, original string) error {
	_, err := ReceiveSpec(path).Parse(original)
	return err
}
