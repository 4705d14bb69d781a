#compdef convops
# zsh completion for convops. Installed as
# /usr/share/zsh/vendor-completions/_convops, or loaded with
#   source <(convops completion zsh)
# The flags are asked of the binary itself (convops CMD -h), so they are
# always those of the convops on the PATH.

_convops() {
	local -a commands sub flags
	commands=(
		'serve:run the server'
		'demo:run a server with a simulated account fed live'
		'query:ask a server for an account'"'"'s metrics'
		'ingest:send events from a JSON or NDJSON file'
		'import:send pages of LivePerson Messaging Interactions results'
		'keys:manage API keys'
		'completion:print a shell completion script'
	)
	if ((CURRENT == 2)); then
		_describe -t commands 'convops command' commands
		return
	fi
	sub=($words[2])
	case $words[2] in
	keys)
		if ((CURRENT == 3)); then
			compadd add list revoke
			return
		fi
		sub+=($words[3])
		;;
	import)
		if ((CURRENT == 3)); then
			compadd liveperson
			return
		fi
		sub+=(liveperson)
		;;
	completion)
		compadd bash zsh
		return
		;;
	esac
	if [[ $PREFIX == -* ]]; then
		flags=(${(f)"$($words[1] $sub -h 2>&1 | sed -n 's/^  -\([a-z0-9-]*\).*/--\1/p')"})
		compadd -a flags
		return
	fi
	_files
}

if [[ $funcstack[1] == _convops ]]; then
	_convops "$@"
else
	compdef _convops convops
fi
