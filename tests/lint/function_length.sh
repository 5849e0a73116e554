#!/usr/bin/env bash
# No function is over 60 lines: every C++ (.h, .cpp) and Python (.py) function under src/,
# launch/ and bench/, as universal-ctags finds it (its line: and end: fields), counted from
# its first line to its last. Fails naming file:line, the function and its length for each
# one over; exits 77 where universal-ctags is missing (Debian's universal-ctags).
# Usage: tests/lint/function_length.sh [SOURCE_DIR]    (ctest sets NIN_SOURCE_DIR)
set -euo pipefail
MAX_LINES=60  # lines of one function, its signature and closing brace included
root=${1:-${NIN_SOURCE_DIR:-$(dirname "$0")/../..}}
cd "$root"
command -v ctags > /dev/null || { echo "skip: no ctags (apt-get install universal-ctags)" >&2; exit 77; }
ctags --version | grep -q "Universal Ctags" \
  || { echo "skip: ctags is not universal-ctags (no end: field)" >&2; exit 77; }

# One tag a line: NAME<TAB>FILE<TAB>LINE;"<TAB>KIND<TAB>key:value... (--excmd=number: no source
# text in the line, so a tab in the code cannot shift the fields). Printed: LENGTH FILE:LINE NAME.
lengths() {
  find src launch bench -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.py' \) | sort |
    ctags -L - -f - --sort=no --excmd=number --languages=C++,Python --kinds-c++=f --kinds-python=f \
      --fields=+ne |
    awk -F'\t' '{
      line = end = scope = ""
      for (i = 4; i <= NF; i++) {
        if ($i ~ /^line:[0-9]+$/) line = substr($i, 6)
        else if ($i ~ /^end:[0-9]+$/) end = substr($i, 5)
        else if ($i ~ /^(class|struct|member):/) scope = $i
      }
      if (line == "" || end == "") next  # ctags found no end: nothing to judge
      sub(/^[a-z]+:/, "", scope); n = split(scope, parts, /::|\./)
      name = (n && scope !~ /^__anon/) ? parts[n] "::" $1 : $1  # Trainer::epoch, not nin::train::...
      print end - line + 1, $2 ":" line, name
    }'
}

all=$(lengths)
[ -n "$all" ] || { echo "FAIL: ctags found no functions under src/, launch/, bench/" >&2; exit 1; }
long=$(awk -v max="$MAX_LINES" '$1 > max { print $2 ": " $3 " is " $1 " lines" }' <<<"$all")
if [ -n "$long" ]; then
  echo "FAIL: functions over $MAX_LINES lines (split them into named steps):" >&2
  echo "$long" >&2
  exit 1
fi
echo "ok: $(wc -l <<<"$all") functions, none over $MAX_LINES lines"
