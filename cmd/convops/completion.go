package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
)

// The completion scripts ask the binary for each command's flags, so that
// they need no change when a flag is added.
var (
	//go:embed completions/convops.bash
	bashCompletion string
	//go:embed completions/convops.zsh
	zshCompletion string
)

const completionUsage = `Usage: convops completion bash|zsh

Prints a completion script for the shell:
  source <(convops completion bash)     # or into /usr/share/bash-completion/completions/convops
  source <(convops completion zsh)      # or into a directory of $fpath, as _convops
`

// completion prints the completion script of the shell args[0] names.
func (m *Main) completion(args []string) error {
	if len(args) != 1 {
		fmt.Fprint(m.Stderr, completionUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "bash":
		fmt.Fprint(m.Stdout, bashCompletion)
	case "zsh":
		fmt.Fprint(m.Stdout, zshCompletion)
	default:
		fmt.Fprint(m.Stderr, completionUsage)
		return errors.New("convops completion knows bash and zsh, not " + fmt.Sprintf("%q", args[0]))
	}
	return nil
}
