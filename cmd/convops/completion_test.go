package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCompletion: the bash and zsh scripts complete commands, subcommands
// and each command's flags, as asked of the binary on the PATH (zsh's
// completion builtins are stood in for: they need a terminal).
func TestCompletion(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	cases := []struct {
		words []string // the last is the word being completed
		want  string
	}{
		{[]string{"convops", "se"}, "serve"},
		{[]string{"convops", "keys", "re"}, "revoke"},
		{[]string{"convops", "serve", "--keys-c"}, "--keys-check-interval"},
		{[]string{"convops", "keys", "add", "--acc"}, "--account"},
		{[]string{"convops", "import", "liveperson", "--shift"}, "--shift-to-now"},
		{[]string{"convops", "query", "--percent"}, "--percentiles"},
		{[]string{"convops", "completion", "z"}, "zsh"},
	}
	run := func(t *testing.T, shell, script string) string {
		t.Helper()
		cmd := exec.Command(shell, "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", shell, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	quoted := func(words []string) string { return "'" + strings.Join(words, "' '") + "'" }

	t.Run("bash", func(t *testing.T) {
		if _, err := exec.LookPath("bash"); err != nil {
			t.Skip("no bash")
		}
		for _, c := range cases {
			got := run(t, "bash", `source <(convops completion bash); COMP_WORDS=(`+quoted(c.words)+`); COMP_CWORD=`+
				strconv.Itoa(len(c.words)-1)+`; _convops; echo "${COMPREPLY[*]}"`)
			if got != c.want {
				t.Errorf("%v: %q, want %q", c.words, got, c.want)
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		if _, err := exec.LookPath("zsh"); err != nil {
			if os.Getenv("CONVOPS_REQUIRE_CLIENTS") != "" {
				t.Fatal("no zsh, and CONVOPS_REQUIRE_CLIENTS is set")
			}
			t.Skip("no zsh")
		}
		stubs := `compdef() {}; _files() { print -r -- files }
compadd() { if [[ $1 == -a ]]; then print -r -- ${(P)2}; else print -r -- "$@"; fi }
_describe() { local -a c; c=(${(P)4}); print -r -- ${c%%:*} }
`
		for _, c := range cases {
			last := c.words[len(c.words)-1]
			got := run(t, "zsh", stubs+`source <(convops completion zsh); words=(`+quoted(c.words)+`); CURRENT=`+
				strconv.Itoa(len(c.words))+`; PREFIX='`+last+`'; _convops`)
			// compadd and _describe offer every candidate; the shell filters
			// them by the prefix.
			var offered []string
			for _, w := range strings.Fields(got) {
				if strings.HasPrefix(w, last) {
					offered = append(offered, w)
				}
			}
			if strings.Join(offered, " ") != c.want {
				t.Errorf("%v: %q (of %q), want %q", c.words, offered, got, c.want)
			}
		}
	})
}
