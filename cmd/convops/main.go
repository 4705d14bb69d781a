// Command convops runs the convops server and its tools.
//
//	convops serve [flags]             run the server
//	convops demo [flags]              run a server with a simulated account, fed live
//	convops query [flags]             ask a server for an account's metrics
//	convops ingest [flags] FILE|-     send events from a file
//	convops keys add|list|revoke      manage API keys
//	convops completion bash|zsh       print a shell completion script
//	convops --version                 say which build this is
//
// The benchmark is a command of its own, convops-bench, so that this binary
// links no database driver.
//
// Every flag can also be set with an environment variable CONVOPS_<NAME>, the
// flag's name in upper case with '-' as '_' (CONVOPS_DATA_DIR for --data-dir).
// A flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(m.Stderr, "convops:", err)
		os.Exit(1)
	}
}

// Main is the program: its subcommands, standard streams and environment.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string

	// fromEnv lists the flags that took their value from the environment,
	// so that an error about one can say where its value came from.
	fromEnv []envValue
}

// envValue is a flag set from a CONVOPS_* variable: the value as given,
// and as the flag holds it then.
type envValue struct{ flag, variable, value, set string }

// NewMain returns a Main wired to the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

const usage = `convops serves real-time messaging-conversation metrics.

Usage:
  convops serve [flags]            run the server (convops serve -h lists the flags)
  convops demo [flags]             run a server with a simulated account fed live, and show its wallboard
  convops query [flags]            ask a server for an account's metrics (convops query -h)
  convops ingest [flags] FILE|-    send events from a JSON or NDJSON file (convops ingest -h)
  convops import liveperson [flags] FILE...
                                   send pages of LivePerson Messaging Interactions results (convops import liveperson -h)
  convops keys add|list|revoke     manage API keys (convops keys for help)
  convops completion bash|zsh      print a shell completion script
  convops --version                say which build this is
`

// Run runs the subcommand named by args[0]; an error about a flag set
// from the environment says the variable.
func (m *Main) Run(ctx context.Context, args []string) error {
	return m.withEnvSource(m.run(ctx, args))
}

func (m *Main) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		cmd := NewServeCommand(m)
		if err := cmd.ParseFlags(args[1:]); err != nil {
			return err
		}
		return cmd.Run(ctx)
	case "keys":
		return (&KeysCommand{main: m}).Run(args[1:])
	case "demo":
		return (&DemoCommand{main: m}).Run(ctx, args[1:])
	case "query":
		return (&QueryCommand{main: m}).Run(ctx, args[1:])
	case "ingest":
		return (&IngestCommand{main: m}).Run(ctx, args[1:])
	case "import":
		return (&ImportCommand{main: m}).Run(ctx, args[1:])
	case "completion":
		return m.completion(args[1:])
	case "version", "--version", "-version", "-v":
		fmt.Fprintln(m.Stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprint(m.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// newFlagSet returns a flag set whose flags take their defaults from
// CONVOPS_<NAME> environment variables; define flags, then call parseWithEnv.
func (m *Main) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("convops "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	return fs
}

// parseWithEnv applies the environment, then the command line, which must
// hold flags only.
func (m *Main) parseWithEnv(fs *flag.FlagSet, args []string) error {
	rest, err := m.parseWithEnvArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q", rest[0])
	}
	return nil
}

// parseWithEnvArgs applies the environment, then the command line, and
// returns the arguments left after the flags.
func (m *Main) parseWithEnvArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "CONVOPS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := m.Getenv(env); v != "" && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment variable %s=%q is not valid for --%s: want %s", env, v, f.Name, expectedForm(f))
			}
			m.fromEnv = append(m.fromEnv, envValue{f.Name, env, v, f.Value.String()})
		}
	})
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// A flag given on the command line wins: its value is then not the
	// environment's.
	m.fromEnv = slices.DeleteFunc(m.fromEnv, func(e envValue) bool {
		f := fs.Lookup(e.flag)
		return f != nil && f.Value.String() != e.set
	})
	return fs.Args(), nil
}

// withEnvSource adds to an error that names a flag set from the
// environment (say, "--shard: ...") the variable and value it came from:
// the command line shows no such flag, and the user looks for it there.
func (m *Main) withEnvSource(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	var from []string
	for _, e := range m.fromEnv {
		switch {
		case !namesFlag(msg, e.flag):
		case slices.Contains(secretFlags, e.flag):
			// Never its value: the text may be a server's.
			from = append(from, fmt.Sprintf("--%s is %s", e.flag, e.variable))
		default:
			from = append(from, fmt.Sprintf("--%s is %s=%q", e.flag, e.variable, e.value))
		}
	}
	if len(from) == 0 {
		return err
	}
	return fmt.Errorf("%w (from the environment: %s)", err, strings.Join(from, ", "))
}

// namesFlag tells whether msg names --flag (not a longer flag it begins).
func namesFlag(msg, flagName string) bool {
	return regexp.MustCompile(`--` + regexp.QuoteMeta(flagName) + `([^a-z0-9-]|$)`).MatchString(msg)
}

// expectedForm says what a flag's value looks like, for an error about a
// value that is not one.
func expectedForm(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "a value as convops " + f.Name + " -h describes"
	}
	switch g.Get().(type) {
	case bool:
		return "true or false"
	case int, int64, uint, uint64:
		return "a whole number, such as " + f.DefValue
	case float64:
		return "a number, such as " + f.DefValue
	case time.Duration:
		return "a duration such as 500ms, 30s, 5m or 1h"
	}
	return "the form " + f.Usage
}
