#!/usr/bin/env bash
# Checks that every executable in the build tree that links LibTorch lists libstdc++ before
# libtorch and libc10 among its NEEDED libraries, so std:: symbols bind to libstdc++ and not
# to the copies pip's libtorch exports (see cmake/LinkOrder.cmake).
# It checks the order, not the crash: Debian's libtorch exports no such copies, so a binary
# in the wrong order still runs here; but without cmake/LinkOrder.cmake g++ appends -lstdc++
# after the libraries named (NEEDED: libtorch, libc10, libstdc++), and this test fails.
# Usage: tests/cmake/link_order.sh [BUILD_DIR]    (ctest sets NIN_BUILD_DIR and NIN)
set -euo pipefail
build=${1:-${NIN_BUILD_DIR:?set NIN_BUILD_DIR or pass the build directory}}
build=$(cd "$build" && pwd -P)
command -v readelf >/dev/null || { echo "SKIP: readelf not found (binutils)"; exit 77; }

# NEEDED entries of an ELF file, one a line, in the order the dynamic linker searches them.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
# Line number of the first entry matching an extended regex; empty when none does.
first() { awk -v re="$1" '$0 ~ re { print NR; exit }'; }

checked=() failed=()
# Executables are found from the build, not listed: a new one is checked without asking.
while IFS= read -r -d '' f; do
  [ "$(head -c 4 "$f" | tr -d '\0')" = $'\177ELF' ] || continue  # tr: no NUL in bash strings
  libs=$(needed "$f")
  torch_at=$(first '^lib(torch|c10)' <<<"$libs")
  [ -n "$torch_at" ] || continue
  stdcxx_at=$(first '^libstdc[+][+][.]so' <<<"$libs")
  checked+=("$f")
  if [ -z "$stdcxx_at" ] || [ "$stdcxx_at" -gt "$torch_at" ]; then
    failed+=("$f")
    echo "FAIL: ${f#"$build"/}: libstdc++ is not before $(sed -n "${torch_at}p" <<<"$libs") in NEEDED:"
    echo "      $(tr '\n' ' ' <<<"$libs")"
  else
    echo "ok    ${f#"$build"/}"
  fi
done < <(find "$build" -path '*/CMakeFiles' -prune -o -type f -perm -u+x \
              ! -name '*.so' ! -name '*.so.*' -print0 | sort -z)

if [ ${#checked[@]} -eq 0 ]; then
  echo "FAIL: no executable linking LibTorch under $build"; exit 1
fi
# Guards the search itself: the main binary must have been among those checked.
if [ -n "${NIN:-}" ] && ! printf '%s\n' "${checked[@]}" | grep -qxF "$(readlink -f "$NIN")"; then
  echo "FAIL: $NIN was not among the executables checked"; exit 1
fi
echo "${#checked[@]} LibTorch executables checked, ${#failed[@]} with libstdc++ after libtorch"
[ ${#failed[@]} -eq 0 ]
