#!/bin/sh
# man/ens-commands.sh ENS OUT - write the help2man include file for ens(1):
# a COMMANDS section with every subcommand's --help (from the hidden
# `ens help all`, one "=== ens NAME ===" heading per command), a SEE ALSO
# section and the files ens reads. Each help text goes in verbatim (.nf):
# its columns are laid out for a terminal already. Backslashes, and dots or
# quotes that start a line, are escaped so roff prints them as text.
set -eu
ens=$1
out=$2
tmp=$out.tmp
trap 'rm -f "$tmp" "$tmp.help"' EXIT
"$ens" help all >"$tmp.help"
{
    printf '[COMMANDS]\n'
    printf 'Each command also takes \\fB\\-\\-help\\fR and prints the text below.\n'
    sed \
        -e 's/\\/\\e/g' \
        -e "s/^\\([.']\\)/\\\\\\&\\1/" \
        -e 's/^=== \(ens [a-z-]*\) ===$/.fi\n.SS "\1"\n.nf/' "$tmp.help"
    printf '.fi\n'
    cat <<'ROFF'
[FILES]
.TP
.I $XDG_STATE_HOME/ensemble/SYSTEM.db
The failure journal of a named system (\fI~/.local/state/ensemble/\fR when
\fBXDG_STATE_HOME\fR is not set), read by \fBens journal\fR.
[ENVIRONMENT]
.TP
.B ENSEMBLE_NATS_URL
The NATS server(s) of a convention, for \fBens members\fR and
\fBens journal \-\-convention\fR when \fB\-\-nats\fR is not given.
.TP
.B ENSEMBLE_CONVENTION
The convention \fBens members\fR lists when \fB\-\-convention\fR is not given.
.TP
.B XDG_STATE_HOME
Where the journals of named systems are.
[SEE ALSO]
.BR ensemble (7),
.BR sqlite3 (1)
ROFF
} >"$tmp"
# The first command's heading follows the introduction, not a .nf block.
sed -e '0,/^\.fi$/{/^\.fi$/d}' "$tmp" >"$out"
