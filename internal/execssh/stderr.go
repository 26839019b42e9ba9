package execssh

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxStderrLines is how many stderr lines of one connection are logged at
// most; the rest are counted. A hostile far side (the intruder on a
// watched host, through serve's stderr) must not be able to fill our log.
const MaxStderrLines = 100

// maxLineLog bounds one logged stderr line.
const maxLineLog = 1024

// stderrLog logs one child's stderr. What ssh says itself (and whatever a
// far side that is not ours prints) is a WARN "ssh[host]: ...". Our far
// side's own diagnostics (receive and serve log with slog, text or JSON,
// to their stderr, which ssh carries here) are logged at their own level
// as "far[host]: MSG" with their attributes. The same line again right
// after is counted instead of logged, and at most MaxStderrLines lines are
// logged per connection. While quiet (a connection failure that keeps
// coming back is being reported in its place) nothing is logged.
type stderrLog struct {
	log       *slog.Logger
	name, far string
	quiet     func() bool
	shown     int
	hidden    int // beyond MaxStderrLines
	prev      farLine
	prevShown bool
	repeats   int // of prev, shown, since
}

// farLine is a parsed stderr line.
type farLine struct {
	ours  bool // one of our far side's log lines
	level slog.Level
	msg   string
	attrs []any // key, value, ... (strings)
}

func (l farLine) same(o farLine) bool {
	return l.ours == o.ours && l.level == o.level && l.msg == o.msg && fmt.Sprint(l.attrs) == fmt.Sprint(o.attrs)
}

func newStderrLog(log *slog.Logger, name string, quiet func() bool) *stderrLog {
	far := name
	if rest, ok := strings.CutPrefix(name, "ssh["); ok {
		far = "far[" + rest
	}
	if quiet == nil {
		quiet = func() bool { return false }
	}
	return &stderrLog{log: log, name: name, far: far, quiet: quiet}
}

// line logs one stderr line.
func (s *stderrLog) line(raw string) {
	if s.quiet() {
		return
	}
	l := parseFarLine(raw)
	if s.prevShown && (l.same(s.prev) || s.echo(l)) {
		s.repeats++
		return
	}
	s.flushRepeats()
	s.prev, s.prevShown = l, s.shown < MaxStderrLines
	if !s.prevShown {
		if s.hidden++; s.hidden == 1 {
			s.log.Warn(fmt.Sprintf("more than %d stderr lines from %s on this connection: the rest are counted, not logged", MaxStderrLines, s.far))
		}
		return
	}
	s.shown++
	s.emit(l, l.msg)
}

// echo reports whether l is a plain "sshlogfwd: MSG" line right after our
// far side logged MSG: a forced command that refuses says it on both
// channels (its log, and stderr for a person running ssh by hand).
func (s *stderrLog) echo(l farLine) bool {
	return !l.ours && s.prev.ours && l.msg == "sshlogfwd: "+s.prev.msg
}

func (s *stderrLog) emit(l farLine, msg string) {
	if l.ours {
		s.log.Log(context.Background(), l.level, s.far+": "+msg, l.attrs...)
	} else {
		s.log.Warn(s.name + ": " + msg)
	}
}

func (s *stderrLog) flushRepeats() {
	if s.repeats > 0 {
		s.emit(farLine{ours: s.prev.ours, level: s.prev.level}, fmt.Sprintf("the line above %d more times", s.repeats))
	}
	s.repeats = 0
}

// end says what was counted instead of logged, once the stderr ended.
func (s *stderrLog) end() {
	if s.quiet() {
		return
	}
	s.flushRepeats()
	if s.hidden > 0 {
		s.log.Warn(fmt.Sprintf("suppressed %d lines from %s (at most %d are logged per connection)", s.hidden, s.far, MaxStderrLines))
	}
}

// parseFarLine reads a line of our far side's log (slog's text or JSON
// form, with a level and a message); anything else is a plain line.
func parseFarLine(raw string) farLine {
	raw = clip(raw)
	if l, ok := parseSlogText(raw); ok {
		return l
	}
	if l, ok := parseSlogJSON(raw); ok {
		return l
	}
	return farLine{level: slog.LevelWarn, msg: raw}
}

// clip bounds a line and makes it valid UTF-8.
func clip(s string) string {
	if len(s) > maxLineLog {
		s = s[:maxLineLog] + "..."
	}
	return strings.ToValidUTF8(s, string(utf8.RuneError))
}

// parseSlogText reads `time=... level=INFO msg="..." key=value ...` as
// slog's TextHandler writes it: bare values, or Go-quoted ones.
func parseSlogText(raw string) (farLine, bool) {
	var l farLine
	var level, msg bool
	for rest := raw; rest != ""; {
		key, val, tail, ok := nextPair(rest)
		if !ok {
			return l, false
		}
		rest = tail
		switch key {
		case "time":
		case "level":
			level = l.level.UnmarshalText([]byte(val)) == nil
		case "msg":
			l.msg, msg = val, true
		default:
			l.attrs = append(l.attrs, key, val)
		}
	}
	l.ours = level && msg
	return l, l.ours
}

// nextPair cuts `key=value` (value bare or Go-quoted) and the spaces after
// it off s.
func nextPair(s string) (key, val, rest string, ok bool) {
	key, s, ok = strings.Cut(s, "=")
	if !ok || key == "" || strings.ContainsAny(key, " \"") {
		return "", "", "", false
	}
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", "", false
		}
		val, _ = strconv.Unquote(q)
		s = s[len(q):]
	} else if i := strings.IndexByte(s, ' '); i >= 0 {
		val, s = s[:i], s[i:]
	} else {
		val, s = s, ""
	}
	if s != "" && !strings.HasPrefix(s, " ") {
		return "", "", "", false
	}
	return key, val, strings.TrimLeft(s, " "), true
}

// parseSlogJSON reads a line of slog's JSONHandler.
func parseSlogJSON(raw string) (farLine, bool) {
	var m map[string]any
	if !strings.HasPrefix(raw, "{") || json.Unmarshal([]byte(raw), &m) != nil {
		return farLine{}, false
	}
	lv, ok1 := m["level"].(string)
	msg, ok2 := m["msg"].(string)
	var l farLine
	if !ok1 || !ok2 || l.level.UnmarshalText([]byte(lv)) != nil {
		return farLine{}, false
	}
	l.ours, l.msg = true, msg
	delete(m, "time")
	delete(m, "level")
	delete(m, "msg")
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l.attrs = append(l.attrs, k, fmt.Sprint(m[k]))
	}
	return l, true
}
