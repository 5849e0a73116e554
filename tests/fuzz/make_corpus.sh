#!/usr/bin/env bash
# make_corpus.sh [BUILD_DIR]: remakes tests/fuzz/corpus/ from real files, minimised with -merge=1:
# slices of the real FashionMNIST IDX files (raw and gzip), a real test image as PNG and PGM, the configs in configs/, and a checkpoint, its payload, a state
# dict and its data.pkl written by the fuzz build's own code (fuzz_make_seeds), and checkpoints of a
# small model with its optimizer's state as the trainer writes them, whole and as payloads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-fuzz}
data=${NIN_DATA_DIR:-/usr/share/datasets/fashion-mnist}
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds"/{fuzz_idx,fuzz_checkpoint,fuzz_zip,fuzz_unpickler,fuzz_state_dict,fuzz_image,fuzz_config}

# IDX: the header and the first items of each real file, with the count patched to match.
python3 - "$data" "$seeds/fuzz_idx" <<'PY'
import gzip, struct, sys
src, out = sys.argv[1], sys.argv[2]
for name, item in (("t10k-labels-idx1-ubyte", 1), ("t10k-images-idx3-ubyte", 28 * 28)):
    raw = gzip.open(f"{src}/{name}.gz").read()
    dims = raw[3]
    for n in (1, 3):
        head = bytearray(raw[:4 + 4 * dims])
        struct.pack_into(">I", head, 4, n)
        body = bytes(head) + raw[4 + 4 * dims:4 + 4 * dims + n * item]
        open(f"{out}/{name}-{n}", "wb").write(body)
        open(f"{out}/{name}-{n}.gz", "wb").write(gzip.compress(body))
PY

# Images: a real FashionMNIST test image in every form predict reads (tests/helpers/write_image.py).
for mode in gray rgb rgba gray16 palette; do
  /usr/bin/python3 "$here/../helpers/write_image.py" 0 "$seeds/fuzz_image/$mode.png" --mode $mode \
    --images "$data/t10k-images-idx3-ubyte.gz" >/dev/null
done
/usr/bin/python3 "$here/../helpers/write_image.py" 1 "$seeds/fuzz_image/shirt.pgm" \
  --images "$data/t10k-images-idx3-ubyte.gz" >/dev/null

for f in /usr/share/gitweb/static/git-favicon.png /usr/share/doc/python3/_static/file.png; do  # other encoders' PNGs
  [ -f "$f" ] && cp "$f" "$seeds/fuzz_image/"
done

# Configs: every file in configs/, alone and with a --set (NUL-separated, as fuzz_config reads them).
for f in "$here"/../../configs/*.toml; do
  cp "$f" "$seeds/fuzz_config/"
  { cat "$f"; printf '\0train.lr=0.01\0data.train_limit=64'; } >"$seeds/fuzz_config/$(basename "$f" .toml)-set"
done

"$build/tests/fuzz/fuzz_make_seeds" "$seeds/made" "$here/../../configs/smoke.toml" >/dev/null
cp "$seeds/made/small.nin" "$seeds/made/payload.safetensors" "$seeds/made"/trained-* "$seeds/fuzz_checkpoint/"
cp "$seeds/made/small.pt" "$seeds/fuzz_zip/"
cp "$seeds/made/small.pt" "$seeds/fuzz_state_dict/"
cp "$seeds/made/data.pkl" "$seeds/fuzz_unpickler/"

for target in fuzz_idx fuzz_checkpoint fuzz_zip fuzz_unpickler fuzz_state_dict fuzz_image fuzz_config; do
  rm -rf "$here/corpus/$target"
  mkdir -p "$here/corpus/$target"
  "$build/tests/fuzz/$target" -merge=1 "$here/corpus/$target" "$seeds/$target" 2>/dev/null
  echo "$target: $(ls "$here/corpus/$target" | wc -l) inputs, $(du -sk "$here/corpus/$target" | cut -f1) KB"
done
