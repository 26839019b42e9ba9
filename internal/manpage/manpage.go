package manpage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// Page describes one manual page.
type Page struct {
	Name    string // the program, as typed: "sshlogfwd"
	Section int    // the manual section: 1 for user commands
	Summary string // the NAME line after "name \-": lowercase, no final period
	Manual  string // the header's centre: "User Commands"
	// Description is the DESCRIPTION section, in Text's markup.
	Description string
	// App is the command line model, as kong built it (kong.New(...).Model).
	App *kong.Application
	// Sections follow OPTIONS and COMMANDS, in this order.
	Sections []Section
}

// Section is a section written by hand.
type Section struct {
	Title  string // upper case by convention: "EXIT STATUS"
	Blocks []Block
}

// Block is a part of a section: a Para, an Item, an Example or an EnvList.
type Block interface{ render(w *writer, p *Page) }

// Para is a paragraph of Text.
type Para string

// Item is a tagged paragraph (man's .TP): Tag in bold, Text indented below.
type Item struct{ Tag, Text string }

// Example is a verbatim block, shown indented and unfilled.
type Example string

// EnvList lists every environment variable a flag of the model reads,
// with the flags (and commands) it stands for.
type EnvList struct{}

// Text is the markup of Para, Item and Description: plain text in which
// `code` is set in bold; roff's special characters need no escaping. In a
// Description, a block whose lines are indented is kept verbatim.

// ErrUnsupported is a model this package cannot render: commands chosen by
// a positional argument's value (kong's argument nodes).
var ErrUnsupported = errors.New("unsupported command line model")

// Write renders p to out.
func Write(out io.Writer, p *Page) error {
	if p.App == nil {
		return errors.New("manpage: no command line model")
	}
	w := &writer{b: bufio.NewWriter(out)}
	w.macro("TH", strings.ToUpper(p.Name), fmt.Sprint(p.Section), "", p.Name, p.Manual)
	// Neither hyphenation nor justification: option names and paths must
	// read (and copy) as they are typed.
	w.macro("nh")
	w.macro("ad", "l")
	w.macro("SH", "NAME")
	w.line(escape(p.Name) + ` \- ` + escape(p.Summary))
	if err := writeSynopsis(w, p); err != nil {
		return err
	}
	w.macro("SH", "DESCRIPTION")
	writeDescription(w, p.Description)
	if flags := visibleFlags(p.App.Node); len(flags) > 0 {
		w.macro("SH", "OPTIONS")
		w.para("These apply to every command and go before or after it.")
		for _, f := range flags {
			writeFlag(w, f)
		}
	}
	w.macro("SH", "COMMANDS")
	for _, n := range commands(p.App.Node) {
		writeCommand(w, p.Name, n)
	}
	for _, s := range p.Sections {
		w.macro("SH", s.Title)
		for _, b := range s.Blocks {
			b.render(w, p)
		}
	}
	return w.b.Flush()
}

// commands lists the visible commands below n, depth first, in the order of
// the model.
func commands(n *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range n.Children {
		if c.Hidden {
			continue
		}
		out = append(out, c)
		out = append(out, commands(c)...)
	}
	return out
}

// visibleFlags are n's own flags that the help shows.
func visibleFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for _, f := range n.Flags {
		if !f.Hidden {
			out = append(out, f)
		}
	}
	return out
}

// writeSynopsis writes one line per runnable command.
func writeSynopsis(w *writer, p *Page) error {
	w.macro("SH", "SYNOPSIS")
	w.macro("nf")
	for _, n := range commands(p.App.Node) {
		if n.Type != kong.CommandNode {
			return fmt.Errorf("%w: %s is a %v", ErrUnsupported, n.Path(), n.Type)
		}
		if len(n.Children) == 0 {
			w.line(usage(p.Name, n))
		}
	}
	w.macro("fi")
	return nil
}

// usage is the synopsis of command n: "sshlogfwd push [flags] DEST...".
func usage(name string, n *kong.Node) string {
	s := `\fB` + escape(name+" "+n.Path()) + `\fR`
	if len(visibleFlags(n)) > 0 {
		s += ` [\fIflags\fR]`
	}
	for _, a := range n.Positional {
		s += " " + argSummary(a)
	}
	return s
}

// fonts removes font changes, for a heading, which has its own.
var fonts = strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "")

// argSummary is a positional argument as the synopsis shows it: its name,
// or its choices, "..." when it repeats, in brackets when optional.
func argSummary(a *kong.Positional) string {
	s := `\fI` + escape(a.Name) + `\fR`
	if a.Enum != "" {
		var choices []string
		for _, c := range a.EnumSlice() {
			choices = append(choices, `\fB`+escape(c)+`\fR`)
		}
		s = strings.Join(choices, "|")
	}
	if a.IsCumulative() {
		s += `\&...`
	}
	if !a.Required {
		s = "[" + s + "]"
	}
	return s
}

// writeDescription writes text in paragraphs; indented blocks verbatim.
func writeDescription(w *writer, text string) {
	for _, block := range strings.Split(strings.Trim(text, "\n"), "\n\n") {
		lines := strings.Split(strings.Trim(block, "\n"), "\n")
		if strings.HasPrefix(lines[0], " ") {
			Example(block).render(w, nil)
			continue
		}
		w.para(block)
	}
}

// writeCommand writes the subsection of command n: its help, arguments
// and flags.
func writeCommand(w *writer, name string, n *kong.Node) {
	if len(n.Children) > 0 {
		var names []string
		for _, c := range n.Children {
			if !c.Hidden {
				names = append(names, c.Name)
			}
		}
		w.macro("SS", name+" "+n.Path()+" "+strings.Join(names, "|"))
	} else {
		w.line(".SS " + fonts.Replace(usage(name, n)))
	}
	w.para(n.Help)
	if n.Detail != "" {
		w.para(n.Detail)
	}
	for _, a := range n.Positional {
		w.macro("TP")
		w.line(argSummary(a))
		w.line(text(a.Help))
	}
	for _, f := range visibleFlags(n) {
		writeFlag(w, f)
	}
}

// writeFlag writes one flag as a tagged paragraph: its spellings, its help,
// its default and the variables that set it.
func writeFlag(w *writer, f *kong.Flag) {
	w.macro("TP")
	w.line(flagTag(f))
	w.line(text(f.Help))
	var notes []string
	if d := defaultOf(f); d != "" && !strings.Contains(f.Help, "default "+f.Default+")") {
		notes = append(notes, "Default: "+d+".")
	}
	if len(f.Envs) > 0 {
		notes = append(notes, "Environment: "+strings.Join(f.Envs, ", ")+".")
	}
	if len(notes) > 0 {
		w.macro("br")
		w.line(text(strings.Join(notes, " ")))
	}
}

// flagTag is how a flag is spelt: "-i, --identity=FILE", aliases after.
func flagTag(f *kong.Flag) string {
	var names []string
	if f.Short != 0 {
		names = append(names, `\fB`+escape("-"+string(f.Short))+`\fR`)
	}
	long := "--" + f.Name
	if f.Tag.Negatable != "" {
		long = "--[no-]" + f.Name
	}
	for _, n := range append([]string{long}, prefixed("--", f.Aliases)...) {
		s := `\fB` + escape(n) + `\fR`
		if !f.IsBool() && !f.IsCounter() {
			s += "=" + `\fI` + escape(placeholder(f)) + `\fR`
		}
		names = append(names, s)
	}
	return strings.Join(names, ", ")
}

func prefixed(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// placeholder names a flag's value: its placeholder tag, its choices, or
// its kind. (kong's own falls back to the default value, which the page
// states separately.)
func placeholder(f *kong.Flag) string {
	switch {
	case f.PlaceHolder != "":
		return f.FormatPlaceHolder()
	case f.Enum != "":
		return strings.Join(f.EnumSlice(), "|")
	case f.Target.IsValid() && f.Target.Type() == durationType:
		return "DURATION"
	}
	return strings.ToUpper(f.Name)
}

// defaultOf is the default worth stating: none for a flag that is off by
// default or empty.
func defaultOf(f *kong.Flag) string {
	if !f.HasDefault || f.Default == "" || (f.IsBool() && f.Default == "false") {
		return ""
	}
	return "`" + f.Default + "`"
}

func (p Para) render(w *writer, _ *Page) { w.para(string(p)) }

func (it Item) render(w *writer, _ *Page) {
	w.macro("TP")
	w.line(`\fB` + escape(it.Tag) + `\fR`)
	w.line(text(it.Text))
}

func (e Example) render(w *writer, _ *Page) {
	lines := strings.Split(strings.Trim(string(e), "\n"), "\n")
	indent := commonIndent(lines)
	w.macro("PP")
	w.macro("RS", "4")
	w.macro("nf")
	for _, l := range lines {
		w.line(`\&` + escape(strings.TrimRight(strings.TrimPrefix(l, indent), " \t")))
	}
	w.macro("fi")
	w.macro("RE")
}

// commonIndent is the leading white space all non-blank lines share.
func commonIndent(lines []string) string {
	indent, first := "", true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			indent, first = lead, false
			continue
		}
		for !strings.HasPrefix(lead, indent) {
			indent = indent[:len(indent)-1]
		}
	}
	return indent
}

func (EnvList) render(w *writer, p *Page) {
	// flagUse is a flag a variable sets, and the commands that have it.
	type flagUse struct {
		flag  string
		where []string
	}
	uses := map[string][]*flagUse{} // variable -> its flags, in the model's order
	var walk func(n *kong.Node, where string)
	walk = func(n *kong.Node, where string) {
		for _, f := range visibleFlags(n) {
			for _, e := range f.Envs {
				i := slices.IndexFunc(uses[e], func(u *flagUse) bool { return u.flag == f.Name })
				if i < 0 {
					uses[e], i = append(uses[e], &flagUse{flag: f.Name}), len(uses[e])
				}
				uses[e][i].where = append(uses[e][i].where, where)
			}
		}
		for _, c := range n.Children {
			if !c.Hidden {
				walk(c, c.Path())
			}
		}
	}
	walk(p.App.Node, "global")
	for _, e := range slices.Sorted(maps.Keys(uses)) {
		var flags []string
		for _, u := range uses[e] {
			flags = append(flags, "`--"+u.flag+"` ("+strings.Join(u.where, ", ")+")")
		}
		Item{Tag: e, Text: strings.Join(flags, "; ")}.render(w, p)
	}
}

// writer writes roff lines.
type writer struct{ b *bufio.Writer }

func (w *writer) line(s string) { w.b.WriteString(s + "\n") }

// macro writes a macro call; arguments with spaces are quoted.
func (w *writer) macro(name string, args ...string) {
	var b bytes.Buffer
	b.WriteString("." + name)
	for _, a := range args {
		a = escape(a)
		if a == "" || strings.ContainsAny(a, " \t") {
			a = `"` + strings.ReplaceAll(a, `"`, `\(dq`) + `"`
		}
		b.WriteString(" " + a)
	}
	w.line(b.String())
}

// para writes a paragraph of Text.
func (w *writer) para(s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	w.macro("PP")
	w.line(text(s))
}

// text turns Text markup into one roff text line: `code` in bold, the rest
// escaped, line breaks as spaces.
func text(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString(`\fB` + escape(part) + `\fR`)
		} else {
			b.WriteString(escape(part))
		}
	}
	out := b.String()
	if strings.HasPrefix(out, ".") || strings.HasPrefix(out, "'") {
		out = `\&` + out
	}
	return out
}

// escape makes s print as itself in roff: backslashes and hyphens (which
// roff would set as a typographic hyphen, so that a copied option would not
// work) escaped, characters outside ASCII named by their code point.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
