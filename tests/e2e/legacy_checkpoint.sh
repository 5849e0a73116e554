#!/usr/bin/env bash
# A version-1 checkpoint (a TorchScript archive) is refused without --trust-legacy-checkpoint,
# with a message that says why and writes nothing; with it, evaluate reads it as the same
# model, and a resume continues bitwise as from the version-2 file and writes version 2.
source "$(dirname "$0")/../lib/common.bash"
: "${LEGACY_CHECKPOINT:?set LEGACY_CHECKPOINT to the legacy_checkpoint tool}"
RUN=(--config "$SMOKE" --quiet --set data.train_limit=256)
version_of() { od -An -tu4 -j8 -N4 "$1" | tr -d ' '; }  # the header's uint32 after the 8-byte magic

for opt in adam sgd; do
  "$NIN" "${RUN[@]}" --set train.optimizer=$opt --set train.epochs=1 --run-dir "$WORK/$opt-v2"
  v2=$(newest_ckpt "$WORK/$opt-v2")
  mkdir -p "$WORK/$opt-v1"
  v1="$WORK/$opt-v1/$(basename "$v2")"
  "$LEGACY_CHECKPOINT" "$v2" "$v1"
  [ "$(version_of "$v2")" = 2 ] && [ "$(version_of "$v1")" = 1 ] || fail "expected versions 2 and 1"

  before=$(ls "$WORK/$opt-v1" | sort)
  for cmd in "--resume auto --run-dir $WORK/$opt-v1" "--resume $v1 --run-dir $WORK/$opt-v1"; do
    # shellcheck disable=SC2086 # word splitting of $cmd is intended
    expect_exit 2 "version-1 checkpoint, a TorchScript archive whose loading can run code.*--trust-legacy-checkpoint" \
      "$NIN" "${RUN[@]}" --set train.optimizer=$opt $cmd
  done
  expect_exit 2 "version-1 checkpoint" "$NIN" evaluate --checkpoint "$v1"
  [ "$(ls "$WORK/$opt-v1" | sort)" = "$before" ] || fail "a refused legacy checkpoint left files behind"

  acc_v2=$("$NIN" evaluate --checkpoint "$v2" | grep -o 'accuracy [0-9.]*')
  acc_v1=$("$NIN" evaluate --checkpoint "$v1" --trust-legacy-checkpoint | grep -o 'accuracy [0-9.]*')
  [ -n "$acc_v2" ] && [ "$acc_v1" = "$acc_v2" ] || fail "$opt: evaluate read '$acc_v1' from version 1, '$acc_v2' from version 2"

  "$NIN" "${RUN[@]}" --set train.optimizer=$opt --set train.epochs=2 --run-dir "$WORK/$opt-v2" --resume auto
  "$NIN" "${RUN[@]}" --set train.optimizer=$opt --set train.epochs=2 --run-dir "$WORK/$opt-v1" --resume auto \
    --trust-legacy-checkpoint
  same_weights "$(newest_ckpt "$WORK/$opt-v2")" "$(newest_ckpt "$WORK/$opt-v1")" ||
    fail "$opt: the resume from version 1 differs from the resume from version 2"
  [ "$(version_of "$(newest_ckpt "$WORK/$opt-v1")")" = 2 ] || fail "the resumed run wrote a version-1 checkpoint"
  pass "$opt: a version-1 checkpoint is refused, then read on trust as its version-2 twin"
done
