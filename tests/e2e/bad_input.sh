#!/usr/bin/env bash
# Bad configs, data, checkpoints and flags: a clear message naming the file, key or value,
# exit code 2, and the run directory's checkpoints left byte for byte as they were.
source "$(dirname "$0")/../lib/common.bash"
RUN=$WORK/run
"$NIN" --config "$SMOKE" --run-dir "$RUN" --quiet --set train.epochs=1 --set data.train_limit=64 >/dev/null
before=$(cd "$RUN" && sha256sum ckpt-step*.nin)
ck=$(newest_ckpt "$RUN")
run() { "$NIN" --config "$SMOKE" --run-dir "$RUN" "$@"; }

# Config
cfg() { printf '%b' "$2" > "$WORK/$1"; echo "$WORK/$1"; }
expect_exit 2 "/nonexistent.toml" "$NIN" --config "$WORK/nonexistent.toml" --run-dir "$RUN"
expect_exit 2 "syntax.toml:2:[0-9]+: TOML syntax error" "$NIN" --config "$(cfg syntax.toml '[train]\nlr = = 1\n')" --run-dir "$RUN"
expect_exit 2 "unknown key 'train.lrr'.*did you mean 'train.lr'" "$NIN" --config "$(cfg unknown.toml '[train]\nlrr = 1\n')" --run-dir "$RUN"
expect_exit 2 "'train.epochs' must be an integer, got a string" "$NIN" --config "$(cfg type.toml '[train]\nepochs = "x"\n')" --run-dir "$RUN"
expect_exit 2 "train.lr = 0.0 is out of range" run --set train.lr=0
expect_exit 2 "train.batch_size = 0 is out of range" run --set train.batch_size=0
expect_exit 2 "train.epochs = 0 is out of range" run --set train.epochs=0
expect_exit 2 "train.label_smoothing = 1.0 is out of range: must be in \[0, 1\)" run --set train.label_smoothing=1
expect_exit 2 "train.clip_grad_norm = -1.0 is out of range: must be >= 0" run --set train.clip_grad_norm=-1
expect_exit 2 "train.clip_grad_norm = inf is out of range" run --set train.clip_grad_norm=inf
expect_exit 2 "at least 67x67" run --set data.resize=32
expect_exit 2 "divisible by the 2 ranks" mpirun_np 2 "$NIN" --config "$SMOKE" --run-dir "$RUN" --set train.batch_size=33

"$NIN" --version | grep -q "CUDA: available" ||  # the no-GPU path, where there is none
  expect_exit 2 "train.device = \"cuda\" but no CUDA device is usable for rank 0 \(host .*\)" run --set train.device=cuda

# Data
expect_exit 2 "$WORK/nodata: data directory not found" run --set data.dir=\""$WORK/nodata"\"
mkdir -p "$WORK/data"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  cp "$DATA/$f" "$WORK/data/"
done
bad_data() { run --set data.dir=\""$WORK/data"\" "$@"; }
head -c 100000 "$DATA/t10k-images-idx3-ubyte.gz" > "$WORK/data/t10k-images-idx3-ubyte.gz"
expect_exit 2 "t10k-images-idx3-ubyte.gz: truncated" bad_data
printf '\x12\x34\x08\x03' | gzip > "$WORK/data/t10k-images-idx3-ubyte.gz"
expect_exit 2 "t10k-images-idx3-ubyte.gz: bad magic" bad_data
/usr/bin/python3 -c '
import gzip, sys
d = bytearray(gzip.open(sys.argv[1]).read(16 + 5 * 784)); d[4:8] = (5).to_bytes(4, "big")
open(sys.argv[2], "wb").write(d)' "$DATA/t10k-images-idx3-ubyte.gz" "$WORK/data/t10k-images-idx3-ubyte"
rm "$WORK/data/t10k-images-idx3-ubyte.gz"
expect_exit 2 "5 images, but .*t10k-labels-idx1-ubyte.gz has 10000 labels" bad_data
cp "$DATA/t10k-images-idx3-ubyte.gz" "$WORK/data/"; rm "$WORK/data/t10k-images-idx3-ubyte"
expect_exit 2 "label [0-9] at index [0-9]+ is outside 0..4" bad_data --set model.num_classes=5
: > "$WORK/data/train-labels-idx1-ubyte.gz"
expect_exit 2 "train-labels-idx1-ubyte.gz: .*empty" bad_data

# Checkpoints
expect_exit 2 "$WORK/missing.nin: checkpoint not found" run --resume "$WORK/missing.nin"
head -c 5000 "$ck" > "$WORK/truncated.nin"
expect_exit 2 "truncated.nin: truncated checkpoint" run --resume "$WORK/truncated.nin"
cp "$ck" "$WORK/flipped.nin"
printf '\xff\xff\xff\xff' | dd of="$WORK/flipped.nin" bs=1 seek=20000 conv=notrunc status=none
expect_exit 2 "flipped.nin: corrupt checkpoint: XXH64 checksum mismatch" run --resume "$WORK/flipped.nin"
expect_exit 2 "'net.7.0.weight' has shape \[10, 384, 3, 3\] .* but \[5, 384, 3, 3\]|has shape \[10, 384, 3, 3\], the model expects \[5, 384, 3, 3\]" \
  run --resume "$ck" --set model.num_classes=5
expect_exit 2 "written with train.optimizer = \"adam\", the config says \"sgd\"" run --resume "$ck" --set train.optimizer=sgd

mkfifo "$WORK/fifo.nin"
expect_exit 2 "fifo.nin: checkpoint is not a regular file" timeout 60 "$NIN" evaluate --checkpoint "$WORK/fifo.nin"
expect_exit 2 "ckpt-step[0-9]+.nin: checkpoint is not signed with NIN_CHECKPOINT_KEY" \
  env NIN_CHECKPOINT_KEY=secret "$NIN" evaluate --checkpoint "$ck"
expect_exit 2 "fifo.nin: checkpoint is not a regular file" timeout 60 "$NIN" --config "$SMOKE" --run-dir "$WORK/fifo-run" --resume "$WORK/fifo.nin"

# Images: a header alone allocates nothing; a FIFO is refused, not waited on.
printf 'P5\n32768 32768\n255\n' > "$WORK/huge.pgm"
expect_exit 2 "huge.pgm: truncated PGM data \(32768x32768 pixels announced, [0-9]+ bytes follow" "$NIN" predict --checkpoint "$ck" "$WORK/huge.pgm"
mkfifo "$WORK/fifo.pgm"
expect_exit 2 "fifo.pgm: image is not a regular file" timeout 60 "$NIN" predict --checkpoint "$ck" "$WORK/fifo.pgm"

# One job per run directory: another holder of the lock is named, and nothing is written.
exec 9>>"$RUN/nin-dist.lock"  # this shell holds the lock, as another job's rank 0 would
flock -n 9 || fail "cannot take the lock"
expect_exit 2 "run directory $RUN is in use by another job" run --set train.epochs=4 --resume auto
exec 9>&-

# No string of the user's reaches an interpreter or the markup: a run directory holding a
# newline and a command is refused before anything runs, as train and as plot.
INJ="$WORK/inj
print system(\"touch $WORK/PWNED\")
#"
expect_exit 2 "run.dir = .* holds a control character" "$NIN" --config "$SMOKE" --run-dir "$INJ" --set train.epochs=1 --set data.train_limit=64
mkdir -p "$INJ" && cp "$RUN/metrics.jsonl" "$INJ/"
expect_exit 2 "run directory $WORK/inj\\\\x0aprint system.*: holds a control character" "$NIN" plot "$INJ" --out "$WORK/plots"
QUOTE="$WORK/it's ' . system('touch $WORK/PWNED') . '"  # a quote is data in a label, not the end of a string
mkdir -p "$QUOTE" && cp "$RUN/metrics.jsonl" "$QUOTE/"
"$NIN" plot "$QUOTE" "$RUN" --out "$WORK/plots" >/dev/null
[ -s "$WORK/plots/curves.svg" ] || fail "plot wrote no curves"
/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' "$WORK/plots/curves.svg" ||
  fail "a quote in a run's name broke curves.svg"
[ ! -e "$WORK/PWNED" ] && [ ! -e PWNED ] || fail "a command smuggled into a path ran"
pass "no command ran"

# Command line
expect_exit 2 "unrecognised option '--no-such-flag'|unrecognized option '--no-such-flag'" "$NIN" --no-such-flag
expect_exit 2 "the required argument for option '--config' is missing" "$NIN" --config
expect_exit 2 "--set train.nope=1: unknown key 'train.nope'" run --set train.nope=1
expect_exit 2 "unknown command 'trian'" "$NIN" trian

after=$(cd "$RUN" && sha256sum ckpt-step*.nin)
[ "$before" = "$after" ] || fail "the run directory's checkpoints changed"
pass "checkpoints untouched"
