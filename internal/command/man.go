package command

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Man renders app's manual page (section 8) as roff, from the same
// definitions that make its --help. It does not use urfave/cli's ToMan, so
// the programs can be built with the urfave_cli_no_docs tag and leave the
// Markdown renderer out of upsslave's start-up.
func Man(app *cli.App) string {
	var b strings.Builder
	name := app.Name
	fmt.Fprintf(&b, ".TH %s 8 \"\" \"nutslave %s\" \"System Administration\"\n", strings.ToUpper(name), roffEscape(app.Version))
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", name, roffEscape(app.Usage))
	if app.UsageText != "" {
		b.WriteString(".SH SYNOPSIS\n")
		block(&b, app.UsageText)
	}
	if app.Description != "" {
		b.WriteString(".SH DESCRIPTION\n")
		prose(&b, app.Description)
	}
	if len(app.Flags) > 0 {
		b.WriteString(".SH OPTIONS\n")
		flagList(&b, app.Flags)
	}
	var cmds []*cli.Command
	for _, c := range app.Commands {
		if !c.Hidden {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) > 0 {
		b.WriteString(".SH COMMANDS\n")
		for _, c := range cmds {
			fmt.Fprintf(&b, ".SS %s\n", roffEscape(c.Name))
			prose(&b, c.Usage)
			if c.UsageText != "" {
				block(&b, c.UsageText)
			}
			if c.Description != "" {
				prose(&b, c.Description)
			}
			flagList(&b, c.Flags)
		}
	}
	return b.String()
}

// prose renders paragraphs separated by blank lines; indented lines are
// kept as they are, in no-fill blocks.
func prose(b *strings.Builder, text string) {
	var para, pre []string
	flush := func() {
		if len(para) > 0 {
			b.WriteString(".PP\n")
			for _, l := range para {
				b.WriteString(roffLine(strings.TrimSpace(l)))
			}
			para = nil
		}
		if len(pre) > 0 {
			b.WriteString(".PP\n.nf\n")
			for _, l := range pre {
				b.WriteString(roffLine(l))
			}
			b.WriteString(".fi\n")
			pre = nil
		}
	}
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t"):
			if len(para) > 0 {
				flush()
			}
			pre = append(pre, l)
		default:
			if len(pre) > 0 {
				flush()
			}
			para = append(para, l)
		}
	}
	flush()
}

func block(b *strings.Builder, text string) {
	b.WriteString(".PP\n.nf\n")
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(roffLine(l))
	}
	b.WriteString(".fi\n")
}

func flagList(b *strings.Builder, fl []cli.Flag) {
	for _, f := range fl {
		var names []string
		for _, n := range f.Names() {
			dash := "\\-"
			if len(n) > 1 {
				dash = "\\-\\-"
			}
			names = append(names, "\\fB"+dash+roffEscape(n)+"\\fR")
		}
		usage, arg := "", ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			usage = d.GetUsage()
			if d.TakesValue() {
				arg = " \\fIVALUE\\fR"
				// urfave/cli names the value by a `QUOTED` word in the usage.
				if i := strings.IndexByte(usage, '`'); i >= 0 {
					if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
						word := usage[i+1 : i+1+j]
						arg = " \\fI" + roffEscape(word) + "\\fR"
						usage = usage[:i] + word + usage[i+2+j:]
					}
				}
			}
			if env := d.GetEnvVars(); len(env) > 0 {
				usage += " (environment: " + strings.Join(env, ", ") + ")"
			}
		}
		fmt.Fprintf(b, ".TP\n%s%s\n%s", strings.Join(names, ", "), arg, roffLine(usage))
	}
}

// roffLine escapes one line of text; a leading dot or quote would be read
// as a request.
func roffLine(l string) string {
	l = roffEscape(l)
	if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
		l = "\\&" + l
	}
	return l + "\n"
}

func roffEscape(s string) string {
	return strings.ReplaceAll(s, "\\", "\\e")
}

// ManCommand is the hidden "man" subcommand every program has: it prints
// the program's man page, from which the packages make theirs.
func ManCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Hidden: true,
		Usage:  "print the man page (roff)",
		Action: func(c *cli.Context) error {
			_, err := io.WriteString(c.App.Writer, Man(c.App))
			return err
		},
	}
}
