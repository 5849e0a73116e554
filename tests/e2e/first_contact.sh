#!/usr/bin/env bash
# What a new user meets first: bare nin-dist and --help, bad input that writes nothing,
# warnings on stderr, no hidden files left, export that never overwrites by surprise,
# --resume auto in a fresh folder, predict on the test set with no image named.
source "$(dirname "$0")/../lib/common.bash"
cd "$WORK"  # a bare run must leave nothing here

# Bare nin-dist: the commands on stderr, exit 2, no run directory.
out=$("$NIN" 2>"$WORK/bare.err") && fail "bare nin-dist exited 0"
[ -z "$out" ] || fail "bare nin-dist printed on stdout: $out"
grep -q "^usage: nin-dist" "$WORK/bare.err" && grep -q "configs/cpu.toml" "$WORK/bare.err" || fail "bare nin-dist: $(cat "$WORK/bare.err")"
[ ! -e runs ] || fail "bare nin-dist created runs/"
"$NIN" >/dev/null 2>&1 || [ $? -eq 2 ] || fail "bare nin-dist: exit code not 2"
pass "bare nin-dist: usage on stderr, exit 2, nothing written"

# --help: the commands and the train options together.
help=$("$NIN" --help)
for w in evaluate predict summary export import plot config --config --set --resume; do
  grep -qF -- "$w" <<<"$help" || fail "nin-dist --help lacks $w"
done
pass "nin-dist --help lists commands and train options"

# Bad input writes nothing: no run directory, not even config.toml.
expect_exit 2 "$WORK/nodata: data directory not found" "$NIN" --config "$SMOKE" --run-dir "$WORK/r1" --set data.dir=\""$WORK/nodata"\"
[ ! -e "$WORK/r1" ] || fail "a missing data directory left $(ls -A "$WORK/r1")"
head -c 300 /dev/urandom >"$WORK/garbage.nin"
expect_exit 2 "garbage.nin" "$NIN" --config "$SMOKE" --run-dir "$WORK/r2" --resume "$WORK/garbage.nin"
[ ! -e "$WORK/r2" ] || fail "a garbage --resume file left $(ls -A "$WORK/r2")"
pass "exit 2 leaves no run directory behind"

# A value from --set is blamed on --set, not on the config file.
expect_exit 2 "^nin-dist: error: --set train.batch_size=0: train.batch_size = 0 is out of range" \
  "$NIN" --config "$SMOKE" --run-dir "$WORK/r3" --set train.batch_size=0
"$NIN" --config "$SMOKE" --run-dir "$WORK/r3" --set train.batch_size=0 2>&1 | grep -qF "smoke.toml" &&
  fail "the config file was blamed for a --set value"

# --resume auto in an empty folder trains from scratch and does not claim to be finished;
# warnings (a skipped non-finite step) go to stderr; no hidden plot files stay behind.
RUN=$WORK/run
NIN_FAULT=nan:3:0 "$NIN" --config "$SMOKE" --run-dir "$RUN" --resume auto --set train.epochs=1 \
  --set data.train_limit=256 --set dist.on_nonfinite=skip >"$WORK/out.txt" 2>"$WORK/err.txt"
grep -q "no checkpoint in .*: starting from scratch" "$WORK/out.txt" || fail "no fresh-start line: $(cat "$WORK/out.txt")"
grep -q "has completed" "$WORK/out.txt" && fail "a fresh run claimed to be complete"
grep -q "warning: non-finite gradient" "$WORK/err.txt" || fail "the warning is not on stderr: $(cat "$WORK/err.txt")"
grep -q "warning:" "$WORK/out.txt" && fail "a warning went to stdout"
hidden=$(find "$RUN" -name '.*' ! -name '.' | head -n 3)
[ -z "$hidden" ] || fail "hidden files left in the run directory: $hidden"
# Into a variable, not a pipe: grep -q would stop reading at the match, and the final line
# after it would end nin-dist with SIGPIPE.
out=$("$NIN" --config "$SMOKE" --run-dir "$RUN" --resume auto --set train.epochs=1 --set data.train_limit=256 \
  --set dist.on_nonfinite=skip)
grep -q "has completed its 1 epochs" <<<"$out" || fail "a finished run did not say so: $out"
pass "--resume auto: fresh start said, completion only when true; warnings on stderr; no hidden files"

# export never overwrites unless told to; import never does.
CKPT=$(newest_ckpt "$RUN")
echo keep >"$WORK/model.pt"
expect_exit 2 "model.pt: exists already; give --force" "$NIN" export --checkpoint "$CKPT" --out "$WORK/model.pt"
[ "$(cat "$WORK/model.pt")" = keep ] || fail "export overwrote an existing file"
"$NIN" export --checkpoint "$CKPT" --out "$WORK/model.pt" --force >/dev/null
[ "$(head -c 2 "$WORK/model.pt")" = PK ] || fail "export --force did not replace the file"
pass "export refuses an existing --out, --force replaces it"

# predict with no image: the checkpoint's test set, with the true class beside each.
"$NIN" predict --checkpoint "$CKPT" --range 0:5 >"$WORK/pred.txt"
cat "$WORK/pred.txt"
[ "$(grep -cE '^test\[[0-4]\] \(true: [A-Za-z/ -]+\): [A-Za-z/ -]+ \([0-9.]+\)$' "$WORK/pred.txt")" -eq 5 ] ||
  fail "predict --range 0:5 printed: $(cat "$WORK/pred.txt")"
pass "predict --range 0:5 classifies the first 5 test images"

# The README's key table is the one `config --reference` prints: no key goes undocumented.
"$NIN" config --reference >"$WORK/reference.md"
awk '/^\| key \| default \| meaning \|$/ { on = 1 } on && /^$/ { exit } on' "$NIN_SOURCE_DIR/docs/configuration.md" |
  diff - "$WORK/reference.md" || fail "docs/configuration.md's key table differs from nin-dist config --reference"
pass "docs/configuration.md's key table matches config --reference"

# The dead-class warning: not while the loss sits at ln(10), then once on stderr for classes
# that stay unpredicted (the smoke run predicts only a few classes after 3 short epochs).
"$NIN" --config "$SMOKE" --run-dir "$WORK/flat" --set train.epochs=2 --set data.train_limit=512 \
  --set data.test_limit=128 --set model.dropout=0.5 -q >/dev/null 2>"$WORK/flat.err"
grep -q "never predicted" "$WORK/flat.err" && fail "dead-class warning while the loss sits at ln(10): $(cat "$WORK/flat.err")"
"$NIN" --config "$SMOKE" --run-dir "$WORK/dead" -q >"$WORK/dead.out" 2>"$WORK/dead.err"
grep -q "never predicted" "$WORK/dead.err" || fail "no dead-class warning: $(cat "$WORK/dead.err")"
[ -z "$(grep "never predicted" "$WORK/dead.err" | uniq -d)" ] ||
  fail "a dead-class warning said twice in a row: $(cat "$WORK/dead.err")"
grep -q "never predicted" "$WORK/dead.out" && fail "the dead-class warning went to stdout"
pass "dead-class warning: silent at ln(10), then on stderr, again only when the classes change"
