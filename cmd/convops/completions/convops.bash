# bash completion for convops. Installed as
# /usr/share/bash-completion/completions/convops, or loaded with
#   source <(convops completion bash)
# The flags are asked of the binary itself (convops CMD -h), so they are
# always those of the convops on the PATH.
_convops() {
	local cur=${COMP_WORDS[COMP_CWORD]} cword=$COMP_CWORD
	local -a words=("${COMP_WORDS[@]}")
	if ((cword == 1)); then
		COMPREPLY=($(compgen -W "serve demo query ingest import keys completion --version --help" -- "$cur"))
		return
	fi
	local -a sub=("${words[1]}")
	case ${words[1]} in
	keys)
		if ((cword == 2)); then
			COMPREPLY=($(compgen -W "add list revoke" -- "$cur"))
			return
		fi
		sub+=("${words[2]}")
		;;
	import)
		if ((cword == 2)); then
			COMPREPLY=($(compgen -W "liveperson" -- "$cur"))
			return
		fi
		sub+=(liveperson)
		;;
	completion)
		COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		local flags
		flags=$("${words[0]}" "${sub[@]}" -h 2>&1 | sed -n 's/^  -\([a-z0-9-]*\).*/--\1/p')
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o default -F _convops convops
