#!/usr/bin/env bash
# The trap that crashed every nin-dist run on the GPU image, rebuilt on this machine:
#   - a g++ whose library path holds only libstdc++.a (that image's /opt/gcc/bin/g++);
#   - a library linked after LibTorch that exports every std::filesystem function of
#     libstdc++, unversioned, as pip's libtorch_cpu.so does (pytorch/pytorch#133437); its
#     copies print their name and abort.
# Then:
#   1. the trap bites: a probe linked as before (-lstdc++ by name) calls the decoy;
#   2. cmake/LinkOrder.cmake, configured with that g++, finds a shared libstdc++.so.6 and the
#      probe's std::filesystem calls land in it; a wrong -DNIN_LIBSTDCXX stops configure;
#   3. nin-dist, re-linked from this build's own link command with that g++ and the decoy,
#      trains 2 epochs into a fresh run directory (checkpoints, curves, report.html);
#   4. nin-dist linked the old way exits 2 at start-up naming the decoy, and writes nothing.
# Usage: tests/cmake/static_libstdcxx.sh BUILD_DIR   (ctest sets NIN_SOURCE_DIR, CXX, CMAKE)
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd -P)
src=${NIN_SOURCE_DIR:?} cxx=${CXX:?} cmake=${CMAKE:-cmake}
W=$(mktemp -d /tmp/nin-trap.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok: $*"; }
skip() { echo "SKIP: $*"; exit 77; }
for tool in readelf nm ldd; do command -v $tool >/dev/null || skip "$tool not found (binutils, libc-bin)"; done
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# ---- the trap: a static-only g++ ----
archive=$("$cxx" -print-file-name=libstdc++.a)
[ -f "$archive" ] || skip "$cxx has no libstdc++.a to build the static-only toolchain from"
mkdir "$W/static-only"
ln -s "$(readlink -f "$archive")" "$W/static-only/libstdc++.a"
cat > "$W/g++" <<EOF
#!/bin/sh
# $cxx as a toolchain whose only libstdc++ is the archive: -lstdc++ finds libstdc++.a
# before any .so, and no libstdc++.so is found by name.
for a in "\$@"; do
  case "\$a" in -print-file-name=libstdc++.so*) echo "\${a#-print-file-name=}"; exit 0 ;; esac
done
exec "$cxx" -L"$W/static-only" "\$@"
EOF
chmod +x "$W/g++"
echo 'int main() { return 0; }' > "$W/hello.cpp"
"$W/g++" -o "$W/hello" "$W/hello.cpp"
needed "$W/hello" | grep -q '^libstdc++' && fail "the static-only g++ still links libstdc++.so"
[ "$("$W/g++" -print-file-name=libstdc++.so)" = libstdc++.so ] || fail "the static-only g++ finds libstdc++.so"
pass "a g++ that links only libstdc++.a"

# ---- the trap: a decoy exporting every std::filesystem function of libstdc++ ----
shared=$("$cxx" -print-file-name=libstdc++.so.6)
[ -f "$shared" ] || shared=$(ldd "$W/hello" 2>/dev/null | sed -n 's/.*libstdc++.so.6 => \([^ ]*\).*/\1/p')
[ -f "$shared" ] || shared=$(ldd "$(command -v cmake)" | sed -n 's/.*libstdc++.so.6 => \([^ ]*\).*/\1/p')
[ -f "$shared" ] || skip "no shared libstdc++.so.6 to copy the symbol list from"
nm -D --defined-only "$shared" | awk '$2 ~ /^[TWi]$/ && $3 ~ /St10filesystem/ { sub(/@.*/, "", $3); print $3 }' |
  sort -u > "$W/symbols"
count=$(wc -l < "$W/symbols")
[ "$count" -ge 100 ] || fail "only $count std::filesystem functions in $shared"
{
  echo '#include <stdio.h>'
  echo '#include <stdlib.h>'
  echo 'static void decoy(const char* s) { fprintf(stderr, "libdecoy: %s called\n", s); abort(); }'
  awk '{ printf "void d%d(void) __asm__(\"%s\");\nvoid d%d(void) { decoy(\"%s\"); }\n", NR, $1, NR, $1 }' "$W/symbols"
} > "$W/decoy.c"
"$cxx" -x c -shared -fPIC -o "$W/libdecoy.so" "$W/decoy.c"
pass "libdecoy.so exports $count std::filesystem functions of $shared"

torch_dir=$(sed -n 's/^Torch_DIR:PATH=//p' "$build/CMakeCache.txt")
configure() {  # configure DIR ARGS...: the probe project with the static-only g++
  local dir=$1; shift
  CXX="$W/g++" "$cmake" -S "$src/tests/cmake/trap" -B "$dir" -DNIN_SOURCE_DIR="$src" -DTorch_DIR="$torch_dir" \
    -DNIN_DECOY="$W/libdecoy.so" -DCMAKE_BUILD_TYPE=Release "$@"
}

# ---- 1. the trap bites when libstdc++ is linked by name ----
configure "$W/old" -DNIN_OLD_LINK=ON > "$W/old.log" 2>&1 || { cat "$W/old.log"; fail "configure (old link)"; }
"$cmake" --build "$W/old" > "$W/old-build.log" 2>&1 || { cat "$W/old-build.log"; fail "build (old link)"; }
rc=0; "$W/old/fs_probe" "$W/probe-old" > "$W/old-run.log" 2>&1 || rc=$?
grep -q '^libdecoy: _ZNSt10filesystem' "$W/old-run.log" || fail "the old link did not reach the decoy (exit $rc): $(cat "$W/old-run.log")"
pass "linked by name, std::filesystem lands in the decoy (exit $rc)"

# ---- 2. cmake/LinkOrder.cmake with the static-only g++ ----
configure "$W/new" > "$W/new.log" 2>&1 || { cat "$W/new.log"; fail "configure (cmake/LinkOrder.cmake)"; }
"$cmake" --build "$W/new" > "$W/new-build.log" 2>&1 || { cat "$W/new-build.log"; fail "build (cmake/LinkOrder.cmake)"; }
first=$(needed "$W/new/fs_probe" | head -n 1)
[[ $first == libstdc++.so.6 ]] || fail "fs_probe's first NEEDED is $first: $(needed "$W/new/fs_probe" | tr '\n' ' ')"
"$W/new/fs_probe" "$W/probe-new" || fail "fs_probe linked with cmake/LinkOrder.cmake"
readelf --dyn-syms -W "$W/new/fs_probe" | grep -q ' UND _ZNSt10filesystem10remove_all[^ ]*@GLIBCXX' ||
  fail "remove_all is not bound to a GLIBCXX version"
pass "cmake/LinkOrder.cmake: libstdc++.so.6 first, remove_all@GLIBCXX, the tree made and removed"
rc=0; configure "$W/bad" -DNIN_LIBSTDCXX="$W/nowhere/libstdc++.so.6" > "$W/bad.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "NIN_LIBSTDCXX=$W/nowhere/libstdc++.so.6: no such file" "$W/bad.log" ||
  fail "a missing NIN_LIBSTDCXX did not stop configure: $(tail -n 5 "$W/bad.log")"
pass "a missing NIN_LIBSTDCXX stops configure, named"

# ---- 3. and 4. nin-dist, re-linked from this build's link command ----
# The command that linked nin-dist (Makefiles: link.txt, run in src/app; Ninja: from the
# root), with the static-only g++, another output, and the decoy after LibTorch, kept in
# NEEDED as LibTorch is.
if [ -f "$build/src/app/CMakeFiles/nin-dist.dir/link.txt" ]; then
  link_dir=$build/src/app link=$(cat "$build/src/app/CMakeFiles/nin-dist.dir/link.txt")
else
  link_dir=$build link=$(ninja -C "$build" -t commands src/app/nin-dist | tail -n 1 | sed 's/^: && //; s/ && :$//')
fi
grep -q -- '-Wl,--push-state,--no-as-needed,/[^,]*libstdc++.so.6,--pop-state' <<<"$link" ||
  fail "nin-dist's link command does not name libstdc++.so.6 by path: $link"
relink() {  # relink OUTPUT LINK_COMMAND
  local cmd=${2#* }  # the compiler, replaced by the static-only g++
  cmd=$(sed -E "s# -o [^ ]*nin-dist # -o $1 #" <<<"$cmd")
  # --no-as-needed: loaded whatever it supplies, as pip's libtorch_cpu.so is for its own code.
  (cd "$link_dir" && eval "\"$W/g++\" $cmd -Wl,--no-as-needed \"$W/libdecoy.so\"")
}
relink "$W/nin-dist" "$link" || fail "re-linking nin-dist"
old_link=$(sed -E 's#-Wl,--push-state,--no-as-needed,/[^,]*libstdc\+\+\.so\.6,--pop-state#-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state#' <<<"$link")
relink "$W/nin-dist-old" "$old_link" || fail "re-linking nin-dist the old way"
needed "$W/nin-dist" | grep -q 'libdecoy.so$' || fail "the decoy is not among nin-dist's libraries"

run=("--config" "$src/configs/smoke.toml" --quiet --set train.epochs=2 --set data.train_limit=256
     --set data.test_limit=64)
"$W/nin-dist" "${run[@]}" --run-dir "$W/run" > "$W/run.log" 2>&1 || fail "nin-dist: $(tail -n 20 "$W/run.log")"
[ "$(wc -l < "$W/run/metrics.jsonl")" -eq 2 ] || fail "metrics.jsonl should have 2 records"
ls "$W/run"/ckpt-step*.nin > /dev/null 2>&1 || fail "no checkpoint"
[ -s "$W/run/curves.svg" ] || fail "no curves"
[ -s "$W/run/report.html" ] || fail "no report.html"
pass "nin-dist with the static-only g++ and the decoy: 2 epochs, checkpoints, curves, report.html"

rc=0; "$W/nin-dist-old" "${run[@]}" --run-dir "$W/run-old" > "$W/old.log" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "nin-dist linked the old way: exit $rc, not 2: $(tail -n 5 "$W/old.log")"
grep -q "std::filesystem resolves to $W/libdecoy.so, not libstdc++" "$W/old.log" &&
  grep -q "pytorch/pytorch#133437" "$W/old.log" && grep -q "NIN_LIBSTDCXX" "$W/old.log" ||
  fail "the start-up message lacks the library, the reason or the fix: $(cat "$W/old.log")"
[ ! -e "$W/run-old" ] || fail "nin-dist linked the old way wrote $W/run-old"
pass "nin-dist linked the old way: exit 2 at start-up, naming libdecoy.so, nothing written"
