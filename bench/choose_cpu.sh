#!/usr/bin/env bash
# How configs/cpu.toml (and, at CPU scale, configs/fmnist-best.toml) was chosen: each
# candidate trains on the training set less a
# 5,000-image validation split and is judged on validation accuracy alone. The test set
# is cut to one image (data.test_limit = 1), so no figure here comes from it; the chosen
# recipe's test accuracy is reported once, in the README.
#
# Usage: bench/choose_cpu.sh [NAME ...]   all six candidates (about 40 minutes on 2 quiet cores), or some
# Knobs (environment): NIN, NP (2), SEED (42), RUNS (runs/choose_cpu), RESULTS.
# A candidate whose run already finished is read, not trained again.
# Writes bench/results/RECIPE_choice.{md,json}.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export NIN=${NIN:-$ROOT/build/src/app/nin-dist}
NP=${NP:-2}
SEED=${SEED:-42}
RECIPE=${RECIPE:-cpu}
RUNS=${RUNS:-$ROOT/runs/choose_$RECIPE}
RESULTS=${RESULTS:-$ROOT/bench/results}

# name | overrides of the config, on top of the validation split
CONFIG=configs/cpu.toml
CANDIDATES=(
  "4-epochs|train.epochs=4"
  "4-epochs-smooth-0.1|train.epochs=4 train.label_smoothing=0.1"
  "4-epochs-lr-2e-3-warmup|train.epochs=4 train.lr=0.002 train.warmup_epochs=0.25"
  "4-epochs-dropout-0.3|train.epochs=4 model.dropout=0.3"
  "4-epochs-lr-3e-3-warmup|train.epochs=4 train.lr=0.003 train.warmup_epochs=0.25"
  "4-epochs-lr-2e-3-warmup-smooth-0.1|train.epochs=4 train.lr=0.002 train.warmup_epochs=0.25 train.label_smoothing=0.1"
)
if [ "$RECIPE" = best ]; then  # the GPU recipe at CPU scale: does augmentation pay at 10 epochs?
  CONFIG=configs/fmnist-best.toml
  SCALE="data.resize=67 train.epochs=10 train.device=cpu"
  CANDIDATES=(
    "crop-flip|$SCALE"
    "no-augmentation|$SCALE data.crop_padding=0 data.flip=false"
  )
elif [ "$RECIPE" != cpu ]; then
  echo "choose_cpu: RECIPE=$RECIPE: must be cpu or best" >&2; exit 2
fi

want=("$@")
mkdir -p "$RUNS" "$RESULTS"
for c in "${CANDIDATES[@]}"; do
  name=${c%%|*}
  sets=${c#*|}
  if [ ${#want[@]} -gt 0 ] && [[ " ${want[*]} " != *" $name "* ]]; then continue; fi
  dir=$RUNS/$name
  if [ -f "$dir/wall_s" ]; then echo "choose_cpu: $name: done before, read from $dir"; continue; fi
  rm -rf "$dir"
  args=(--config "$CONFIG" --run-dir "$dir" --set data.val_split=5000 --set data.test_limit=1
        --set "train.seed=$SEED" --set log.quiet=true)
  for s in $sets; do args+=(--set "$s"); done
  echo "choose_cpu: $name: ${args[*]}"
  start=$(date +%s.%N)
  NP=$NP launch/local.sh "${args[@]}"
  end=$(date +%s.%N)
  printf '%s\n' "$sets" > "$dir/overrides"
  python3 -c "print(round($end - $start, 1))" > "$dir/wall_s"
done

python3 - "$RUNS" "$RESULTS" "$SEED" "$CONFIG" "$RECIPE" "${CANDIDATES[@]}" <<'EOF'
import json, os, sys
runs, results, seed, config, recipe, cands = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
rows = []
for c in cands:
    name, sets = c.split("|", 1)
    d = os.path.join(runs, name)
    if not os.path.exists(os.path.join(d, "wall_s")):
        continue
    recs = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
    val = [r["val_acc"] for r in recs]
    weakest = min(range(len(recs[-1]["val_class_acc"])), key=lambda k: recs[-1]["val_class_acc"][k])
    rows.append(dict(name=name, overrides=sets, val_acc=val, val_loss=recs[-1]["val_loss"],
                     weakest_class=CLASSES[weakest], weakest_val_acc=recs[-1]["val_class_acc"][weakest],
                     images_per_s=[r["images_per_s"] for r in recs],
                     wall_s=float(open(os.path.join(d, "wall_s")).read())))
if not rows:
    sys.exit("choose_cpu: no finished candidate")
lines = [f"Validation accuracy (5,000 held-out training images, seed {seed}) after each epoch;"
         " the test set is not looked at.", "",
         f"| candidate | overrides of {config} | val acc per epoch | weakest class (val) | wall s |",
         "| --- | --- | --- | --- | --- |"]
for r in rows:
    lines.append(f"| {r['name']} | `{r['overrides']}` | {', '.join(f'{v:.4f}' for v in r['val_acc'])} "
                 f"| {r['weakest_class']}: {r['weakest_val_acc']:.3f} | {r['wall_s']:.0f} |")
md = "\n".join(lines) + "\n"
print(md)
open(os.path.join(results, f"{recipe}_choice.md"), "w").write(md)
json.dump(dict(config=config, seed=int(seed), val_split=5000, runs=rows),
          open(os.path.join(results, f"{recipe}_choice.json"), "w"), indent=1)
EOF
