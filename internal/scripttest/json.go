package scripttest

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// JSON is the command
//
//	json FILE PATH [VALUE]
//
// FILE (or stdout, stderr) must hold one JSON document; PATH is a dotted
// path into it ("roster.slaves.0.name", "." for the document itself) that
// must exist and, with VALUE, render as VALUE: a string as itself, a number
// in its shortest form, true, false or null. With ! the path must not
// exist, or not have VALUE.
func JSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: json FILE PATH [VALUE]")
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("%s is not JSON: %v", args[0], err)
	}
	if dec.More() {
		ts.Fatalf("%s holds more than one JSON document", args[0])
	}
	v, found := lookup(doc, args[1])
	switch {
	case len(args) == 2 && neg && found:
		ts.Fatalf("%s has %s", args[0], args[1])
	case len(args) == 2 && !neg && !found:
		ts.Fatalf("%s has no %s", args[0], args[1])
	case len(args) == 2:
		return
	}
	got, scalar := render(v)
	switch {
	case !found && !neg:
		ts.Fatalf("%s has no %s", args[0], args[1])
	case found && !scalar:
		ts.Fatalf("%s: %s is an object or array, not a value", args[0], args[1])
	case found && neg && got == args[2]:
		ts.Fatalf("%s: %s is %s", args[0], args[1], got)
	case found && !neg && got != args[2]:
		ts.Fatalf("%s: %s is %s, want %s", args[0], args[1], got, args[2])
	}
}

// lookup follows a dotted path of object keys and array indexes.
func lookup(v any, path string) (any, bool) {
	if path == "." {
		return v, true
	}
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// render renders a scalar JSON value; scalar is false for objects and
// arrays.
func render(v any) (s string, scalar bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
		return x.String(), true
	}
	return "", false
}
