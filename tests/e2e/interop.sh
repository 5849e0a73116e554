#!/usr/bin/env bash
# PyTorch interoperability, both ways, checked by the seed's NiN in Python on real test images:
# nin-dist export -> torch.load + strict load_state_dict gives the same logits; a state dict
# saved by torch.save (OrderedDict or dict) -> nin-dist import gives the same logits; import
# never overwrites and names a misshapen key.
source "$(dirname "$0")/../lib/common.bash"
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
PYDIR=$NIN_SOURCE_DIR/tests/helpers
TEST_IMAGES=$DATA/t10k-images-idx3-ubyte.gz
RANGE=0:16
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
  echo "skipped: $PY lacks torch or numpy (scripts/setup.sh installs python3-torch)"
  exit 77
fi

# nin-dist -> PyTorch: a briefly trained checkpoint, exported.
"$NIN" --config "$SMOKE" --run-dir "$WORK/run" --set train.epochs=1 --set data.train_limit=256 -q >/dev/null
CKPT=$(newest_ckpt "$WORK/run")
"$NIN" export --checkpoint "$CKPT" --out "$WORK/model.pt" | grep -q "wrote $WORK/model.pt" || fail "export"
"$NIN" predict --checkpoint "$CKPT" --logits "$TEST_IMAGES" --range $RANGE >"$WORK/logits.txt"
[ "$(grep -c ': logits ' "$WORK/logits.txt")" -eq 16 ] || fail "predict --logits printed $(cat "$WORK/logits.txt")"
"$PY" "$PYDIR/check_export.py" "$WORK/model.pt" "$WORK/logits.txt" --range $RANGE || fail "exported weights differ in PyTorch"
# torch.load(weights_only=True), the default since PyTorch 2.6, must accept the file too.
"$PY" -c 'import sys, torch
if "weights_only" in torch.load.__code__.co_varnames:
    sd = torch.load(sys.argv[1], weights_only=True)
    assert len(sd) == 24, len(sd)' "$WORK/model.pt" || fail "torch.load(weights_only=True) refuses the export"
pass "export: PyTorch reproduces nin-dist's logits"

# PyTorch -> nin-dist: random seed-NiN weights saved both ways torch.save is used.
"$PY" "$PYDIR/make_state_dict.py" "$WORK/py" --seed 7 >/dev/null
for form in ordered plain; do
  "$NIN" import --config "$SMOKE" --state-dict "$WORK/py/$form.pt" --out "$WORK/$form.nin" | grep -q "wrote" ||
    fail "import of $form.pt"
  "$NIN" predict --checkpoint "$WORK/$form.nin" --logits "$TEST_IMAGES" --range $RANGE >"$WORK/$form.txt"
  "$PY" "$PYDIR/check_export.py" "$WORK/py/$form.pt" "$WORK/$form.txt" --range $RANGE ||
    fail "imported $form.pt gives other logits than PyTorch"
done
same_weights "$WORK/ordered.nin" "$WORK/plain.nin" || fail "the two forms imported differently"
pass "import: torch.save(model.state_dict()) and torch.save(dict(...)) reproduce PyTorch's logits"

# Export of an imported checkpoint gives the same tensors back.
"$NIN" export --checkpoint "$WORK/plain.nin" --out "$WORK/again.pt" >/dev/null
"$PY" -c 'import sys, torch
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)' "$WORK/py/plain.pt" "$WORK/again.pt" ||
  fail "import then export changed the tensors"
pass "import then export is lossless"

# Refusals: an existing output stays as it was; a wrong shape names the key; a legacy file says what to do.
sum_before=$(md5sum <"$WORK/plain.nin")
expect_exit 2 "plain.nin: exists already" "$NIN" import --config "$SMOKE" --state-dict "$WORK/py/ordered.pt" --out "$WORK/plain.nin"
[ "$(md5sum <"$WORK/plain.nin")" = "$sum_before" ] || fail "import changed an existing file"
"$PY" "$PYDIR/make_state_dict.py" "$WORK/py5" --num-classes 5 >/dev/null
expect_exit 2 "'net.7.0.weight' has shape \[5, 384, 3, 3\], the model expects \[10, 384, 3, 3\]" \
  "$NIN" import --config "$SMOKE" --state-dict "$WORK/py5/ordered.pt" --out "$WORK/five.nin"
[ ! -e "$WORK/five.nin" ] || fail "a refused import left a file"
expect_exit 2 "legacy format.*torch.save\(model.state_dict\(\), path\)" \
  "$NIN" import --config "$SMOKE" --state-dict "$WORK/py/legacy.pt" --out "$WORK/legacy.nin"
PYTHONPATH=$PYDIR "$PY" -c 'import sys, torch, seed_nin; torch.save(seed_nin.NiN(), sys.argv[1])' "$WORK/module.pt"
expect_exit 2 "module.pt: holds the Python object seed_nin.NiN, not a dict of tensors" \
  "$NIN" import --config "$SMOKE" --state-dict "$WORK/module.pt" --out "$WORK/module.nin"

# Integrity: one byte flipped inside a tensor's data fails the CRC-32 the zip records for it.
"$PY" - "$WORK/model.pt" "$WORK/flipped.pt" <<'PYEOF' || fail "could not flip a byte"
import struct, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = next(i for i in zipfile.ZipFile(src).infolist() if i.filename.endswith("/data/3"))
data = bytearray(open(src, "rb").read())
name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2  # the middle of the tensor's data
data[at] ^= 0x10
open(dst, "wb").write(bytes(data))
PYEOF
expect_exit 2 "flipped.pt: entry 'data/3' is damaged: its CRC-32 is [0-9a-f]+, the archive records [0-9a-f]+" \
  "$NIN" import --config "$SMOKE" --state-dict "$WORK/flipped.pt" --out "$WORK/flipped.nin"
[ ! -e "$WORK/flipped.nin" ] || fail "an import with a damaged entry left a file"
"$NIN" import --config "$SMOKE" --state-dict "$WORK/model.pt" --out "$WORK/unflipped.nin" | grep -q "wrote" ||
  fail "the undamaged export does not import"
pass "interop"
