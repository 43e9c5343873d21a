# SPDX-License-Identifier: MIT
# bash completion for zrca. The commands and each command's options come from
# the program itself (zrca help, zrca help COMMAND), so they never drift.
_zrca()
{
    local cur prev cmd i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $prev in
        --*-file|--out|--letter|--id-scan|--legal-rep-scan|--module|--soft-dir|--skf-library|--state-dir|--scan-dir)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return ;;
    esac
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--help --version --json --verbose" -- "$cur")
        else
            local cmds
            cmds=$("${COMP_WORDS[0]}" help 2>/dev/null | sed -n '/^commands:/,/^$/{/^  /{s/^  \([a-z-]*\).*/\1/;p}}')
            mapfile -t COMPREPLY < <(compgen -W "$cmds" -- "$cur")
        fi
        return
    fi
    if [[ $cur == -* ]]; then
        local opts
        opts=$("${COMP_WORDS[0]}" help "$cmd" 2>/dev/null | sed -n 's/^  \(--[a-z-]*\).*/\1/p')
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    elif [[ $cmd == token && $prev == token ]]; then
        mapfile -t COMPREPLY < <(compgen -W "list info pin keygen csr provision-csr import-cert change-pin unlock init-soft" -- "$cur")
    elif [[ $cmd == help && $prev == help ]]; then
        local cmds
        cmds=$("${COMP_WORDS[0]}" help 2>/dev/null | sed -n '/^commands:/,/^$/{/^  /{s/^  \([a-z-]*\).*/\1/;p}}')
        mapfile -t COMPREPLY < <(compgen -W "$cmds" -- "$cur")
    fi
}
complete -F _zrca zrca
