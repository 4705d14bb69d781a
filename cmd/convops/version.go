package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release, set when building one:
//
//	go build -ldflags "-X main.version=v1.2.0" ./cmd/convops
var version = ""

// versionString says which build this is: the release (or the module's
// version, "(devel)" for a build from a work tree), the commit it was built
// from when the toolchain recorded it, and the Go it was built with.
func versionString() string {
	v, commit, when, modified := version, "", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "convops " + v
	switch {
	case commit != "":
		out += " commit " + commit
		if when != "" {
			out += " (" + when + ")"
		}
		if modified {
			out += " with uncommitted changes"
		}
	default:
		out += " commit unknown (not recorded: built outside a git checkout or with -buildvcs=false)"
	}
	return fmt.Sprintf("%s, %s %s/%s", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
