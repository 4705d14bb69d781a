package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// The release, its commit and the time it was built, stamped when building
// one (scripts/release does), so that --version is right however the
// toolchain was run (-buildvcs=false, a tree without .git):
//
//	go build -ldflags "-X main.version=0.1.0 -X main.commit=$(git rev-parse HEAD) -X main.built=2026-12-06T12:00:00Z" ./cmd/convops
var version, commit, built = "", "", ""

// versionString says which build this is: the release (or the module's
// version, "(devel)" for a build from a work tree), the commit it was built
// from when the toolchain recorded it, and the Go it was built with.
func versionString() string {
	v, rev, when, modified := version, commit, built, false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.time" && when == "":
				when = s.Value
			case s.Key == "vcs.modified" && commit == "":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "convops " + v
	switch {
	case rev != "":
		out += " commit " + rev
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
