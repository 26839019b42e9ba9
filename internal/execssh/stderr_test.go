package execssh

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// farLines renders what our far side (receive, serve) logs, with the real
// slog handlers, as ssh carries it to us.
func farLines(json bool, log func(*slog.Logger)) []string {
	var b bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&b, nil)
	if json {
		h = slog.NewJSONHandler(&b, nil)
	}
	log(slog.New(h))
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func TestParseFarLine(t *testing.T) {
	for _, json := range []bool{false, true} {
		lines := farLines(json, func(l *slog.Logger) {
			l.Info("stream starts", "path", "/var/log/remote/web1.log", "offset", 42)
			l.Error(`SSH_ORIGINAL_COMMAND: "sshlogfwd receive /etc/passwd" is not this key's path`, "quote", `a "b" c`)
			l.Warn("x=y looks like a pair", "k", "")
		})
		want := []farLine{
			{ours: true, level: slog.LevelInfo, msg: "stream starts", attrs: []any{"offset", "42", "path", "/var/log/remote/web1.log"}},
			{ours: true, level: slog.LevelError, msg: `SSH_ORIGINAL_COMMAND: "sshlogfwd receive /etc/passwd" is not this key's path`, attrs: []any{"quote", `a "b" c`}},
			{ours: true, level: slog.LevelWarn, msg: "x=y looks like a pair", attrs: []any{"k", ""}},
		}
		for i, line := range lines {
			got := parseFarLine(line)
			if !json {
				// Text keeps the attributes' order, JSON is sorted.
				got.attrs = sortedPairs(got.attrs)
			}
			if !got.same(want[i]) {
				t.Errorf("json %v: parseFarLine(%q) = %+v, want %+v", json, line, got, want[i])
			}
		}
	}
	for _, plain := range []string{
		"Host key verification failed.",
		"ssh: connect to host 127.0.0.1 port 2: Connection refused",
		"sshlogfwd: SSH_ORIGINAL_COMMAND: refused",
		"level=INFO",                   // no message
		`level=LOUD msg="x"`,           // no such level
		`level=INFO msg="unterminated`, // bad quoting
		`{"level":"INFO"}`,             // JSON without a message
		"This account is currently not available.",
	} {
		if got := parseFarLine(plain); got.ours || got.msg != plain || got.level != slog.LevelWarn {
			t.Errorf("parseFarLine(%q) = %+v, want a plain line at WARN", plain, got)
		}
	}
}

func sortedPairs(a []any) []any {
	type kv struct{ k, v any }
	var p []kv
	for i := 0; i+1 < len(a); i += 2 {
		p = append(p, kv{a[i], a[i+1]})
	}
	for i := range p {
		for j := i + 1; j < len(p); j++ {
			if fmt.Sprint(p[j].k) < fmt.Sprint(p[i].k) {
				p[i], p[j] = p[j], p[i]
			}
		}
	}
	var out []any
	for _, x := range p {
		out = append(out, x.k, x.v)
	}
	return out
}

// stderrOf feeds lines through a stderrLog and returns what was logged.
func stderrOf(quiet bool, lines ...string) string {
	log, buf := newLog()
	s := newStderrLog(log, "ssh[loghost]", func() bool { return quiet })
	for _, l := range lines {
		s.line(l)
	}
	s.end()
	return buf.String()
}

// Our far side's lines keep their level and are tagged with the far host;
// ssh's own stay WARN under ssh[host].
func TestStderrLevelsAndTags(t *testing.T) {
	far := farLines(false, func(l *slog.Logger) {
		l.Info("stream starts", "offset", 42)
		l.Error("disk full")
	})
	got := stderrOf(false, append(far, "Connection to loghost closed by remote host.")...)
	for _, want := range []string{
		`level=INFO msg="far[loghost]: stream starts" offset=42`,
		`level=ERROR msg="far[loghost]: disk full"`,
		`level=WARN msg="ssh[loghost]: Connection to loghost closed by remote host."`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "level=WARN msg=\"ssh[loghost]: time=") {
		t.Errorf("a far side line was logged as ssh's:\n%s", got)
	}
}

// The same line again (whatever its timestamp), or a refusal said on both
// of the far side's channels, is counted, not logged again.
func TestStderrRepeatsCollapsed(t *testing.T) {
	var lines []string
	for i := range 4 {
		lines = append(lines, fmt.Sprintf(`time=2026-12-02T07:45:0%d.000Z level=ERROR msg="SSH_ORIGINAL_COMMAND: refused"`, i))
	}
	lines = append(lines, "sshlogfwd: SSH_ORIGINAL_COMMAND: refused", "other")
	got := stderrOf(false, lines...)
	if n := strings.Count(got, "SSH_ORIGINAL_COMMAND: refused"); n != 1 {
		t.Errorf("the refusal logged %d times, want once:\n%s", n, got)
	}
	if !strings.Contains(got, `level=ERROR msg="far[loghost]: the line above 4 more times"`) || !strings.Contains(got, "ssh[loghost]: other") {
		t.Errorf("repeat count or the next line missing:\n%s", got)
	}
}

// At most MaxStderrLines lines of one connection are logged, the rest are
// counted; a quiet log logs nothing.
func TestStderrCap(t *testing.T) {
	var lines []string
	for i := range MaxStderrLines + 250 {
		lines = append(lines, fmt.Sprintf("noise %d", i))
	}
	got := stderrOf(false, lines...)
	if n := strings.Count(got, "noise "); n != MaxStderrLines {
		t.Errorf("%d lines logged, want %d", n, MaxStderrLines)
	}
	if !strings.Contains(got, "more than 100 stderr lines from far[loghost] on this connection: the rest are counted") ||
		!strings.Contains(got, "suppressed 250 lines from far[loghost]") {
		t.Errorf("no count of the rest:\n%s", got[len(got)-300:])
	}
	if got := stderrOf(true, lines...); got != "" {
		t.Errorf("quiet log wrote:\n%s", got)
	}
}

// A line is clipped and made valid UTF-8 before it is logged.
func TestStderrClip(t *testing.T) {
	got := stderrOf(false, strings.Repeat("x", 5000)+"\xff")
	if len(got) > maxLineLog+200 || !strings.Contains(got, "...") {
		t.Errorf("a 5000-byte line logged as %d bytes", len(got))
	}
}
