#!/usr/bin/env bash
# Checks that every executable in the build tree that links LibTorch lists libstdc++ before
# libtorch and libc10 among its NEEDED libraries, and that none of its undefined symbols
# that libstdc++ defines lacks a version: each was bound to libstdc++ at link time, so none
# can bind to the copies pip's libtorch exports (see cmake/LinkOrder.cmake).
# It checks the link, not the crash (tests/cmake/static_libstdcxx.sh runs into the trap):
# Debian's libtorch exports no such copies, so a binary in the wrong order still runs here;
# but without cmake/LinkOrder.cmake g++ appends -lstdc++ after the libraries named
# (NEEDED: libtorch, libc10, libstdc++), and this test fails.
# Usage: tests/cmake/link_order.sh [BUILD_DIR]    (ctest sets NIN_BUILD_DIR and NIN)
set -euo pipefail
build=${1:-${NIN_BUILD_DIR:?set NIN_BUILD_DIR or pass the build directory}}
build=$(cd "$build" && pwd -P)
command -v readelf >/dev/null || { echo "SKIP: readelf not found (binutils)"; exit 77; }

# NEEDED entries of an ELF file, one a line, in the order the dynamic linker searches them.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
# Line number of the first entry matching an extended regex; empty when none does.
first() { awk -v re="$1" '$0 ~ re { print NR; exit }'; }

# libstdc++'s exported names (versions cut): an undefined one of these must carry @GLIBCXX_...
stdcxx=${NIN_LIBSTDCXX:-$(${CXX:-c++} -print-file-name=libstdc++.so.6)}
[ -f "$stdcxx" ] || { echo "FAIL: no libstdc++.so.6 (set NIN_LIBSTDCXX)"; exit 1; }
exports=$(mktemp); trap 'rm -f "$exports"' EXIT
nm -D --defined-only "$stdcxx" | awk '{ sub(/@.*/, "", $3); print $3 }' | sort -u > "$exports"
# Undefined dynamic symbols of an ELF file that libstdc++ defines and that carry no version.
unversioned_std() {
  readelf --dyn-syms -W "$1" | awk '$7 == "UND" && $8 != "" && $8 !~ /@/ { print $8 }' | sort -u |
    comm -12 - "$exports"
}

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
  elif loose=$(unversioned_std "$f") && [ -n "$loose" ]; then
    failed+=("$f")
    echo "FAIL: ${f#"$build"/}: $(wc -l <<<"$loose") libstdc++ symbols undefined without a version, e.g. $(head -n 1 <<<"$loose")"
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
echo "${#checked[@]} LibTorch executables checked, ${#failed[@]} with libstdc++ after libtorch or unversioned"
[ ${#failed[@]} -eq 0 ]
