#!/usr/bin/env bash
# A version-1 checkpoint (a TorchScript archive) goes through one door: `nin-dist upgrade OLD
# NEW --trust-legacy-checkpoint`. Every other command refuses it, naming the file and that
# command, and writes nothing; upgrade refuses it without the flag and never replaces NEW
# unasked; the version-2 file it writes evaluates and resumes bitwise as the original twin.
source "$(dirname "$0")/../lib/common.bash"
: "${LEGACY_CHECKPOINT:?set LEGACY_CHECKPOINT to the legacy_checkpoint tool}"
RUN=(--config "$SMOKE" --quiet --set data.train_limit=256)
version_of() { od -An -tu4 -j8 -N4 "$1" | tr -d ' '; }  # the header's uint32 after the 8-byte magic
REFUSED="version-1 checkpoint, a TorchScript archive whose loading can run code.*nin-dist upgrade .* NEW.nin --trust-legacy-checkpoint"

for opt in adam sgd; do
  "$NIN" "${RUN[@]}" --set train.optimizer=$opt --set train.epochs=1 --run-dir "$WORK/$opt-v2"
  v2=$(newest_ckpt "$WORK/$opt-v2")
  mkdir -p "$WORK/$opt-v1"
  v1="$WORK/$opt-v1/$(basename "$v2")"
  "$LEGACY_CHECKPOINT" "$v2" "$v1"
  [ "$(version_of "$v2")" = 2 ] && [ "$(version_of "$v1")" = 1 ] || fail "expected versions 2 and 1"

  # Every path but upgrade: refused, naming the file and the command to run.
  before=$(ls "$WORK/$opt-v1" | sort)
  for cmd in "--resume auto --run-dir $WORK/$opt-v1" "--resume $v1 --run-dir $WORK/$opt-v1"; do
    # shellcheck disable=SC2086 # word splitting of $cmd is intended
    expect_exit 2 "$v1: a $REFUSED" "$NIN" "${RUN[@]}" --set train.optimizer=$opt $cmd
  done
  expect_exit 2 "$v1: a $REFUSED" "$NIN" evaluate --checkpoint "$v1"
  expect_exit 2 "$v1: a $REFUSED" "$NIN" predict --checkpoint "$v1"
  expect_exit 2 "$v1: a $REFUSED" "$NIN" export --checkpoint "$v1" --out "$WORK/$opt.pt"
  expect_exit 2 "only .nin-dist upgrade OLD.nin NEW.nin --trust-legacy-checkpoint. reads a version-1" \
    "$NIN" evaluate --checkpoint "$v1" --trust-legacy-checkpoint
  expect_exit 2 "only .nin-dist upgrade" "$NIN" "${RUN[@]}" --resume auto --run-dir "$WORK/$opt-v1" --trust-legacy-checkpoint
  [ "$(ls "$WORK/$opt-v1" | sort)" = "$before" ] || fail "a refused legacy checkpoint left files behind"
  [ ! -e "$WORK/$opt.pt" ] || fail "export of a refused checkpoint wrote its output"

  # upgrade: the trust flag is required, and an existing NEW stays as it was.
  mkdir -p "$WORK/$opt-up"
  up="$WORK/$opt-up/$(basename "$v2")"
  expect_exit 2 "$v1: a version-1 checkpoint.*can run code.*--trust-legacy-checkpoint" "$NIN" upgrade "$v1" "$up"
  [ ! -e "$up" ] || fail "upgrade without --trust-legacy-checkpoint wrote $up"
  "$NIN" upgrade "$v1" "$up" --trust-legacy-checkpoint
  [ "$(version_of "$up")" = 2 ] || fail "upgrade wrote version $(version_of "$up")"
  sum=$(cksum < "$up")
  expect_exit 2 "$up: exists already; give --force" "$NIN" upgrade "$v1" "$up" --trust-legacy-checkpoint
  [ "$(cksum < "$up")" = "$sum" ] || fail "a refused upgrade changed $up"
  "$NIN" upgrade "$v1" "$up" --trust-legacy-checkpoint --force
  [ "$(cksum < "$up")" = "$sum" ] || fail "upgrade --force of the same file wrote other bytes"

  # The upgraded file is the twin of the version-2 original.
  acc_v2=$("$NIN" evaluate --checkpoint "$v2" | grep -o 'accuracy [0-9.]*')
  acc_up=$("$NIN" evaluate --checkpoint "$up" | grep -o 'accuracy [0-9.]*')
  [ -n "$acc_v2" ] && [ "$acc_up" = "$acc_v2" ] || fail "$opt: evaluate read '$acc_up' from the upgraded file, '$acc_v2' from version 2"
  "$NIN" "${RUN[@]}" --set train.optimizer=$opt --set train.epochs=2 --run-dir "$WORK/$opt-v2" --resume auto
  "$NIN" "${RUN[@]}" --set train.optimizer=$opt --set train.epochs=2 --run-dir "$WORK/$opt-up" --resume auto
  same_weights "$(newest_ckpt "$WORK/$opt-v2")" "$(newest_ckpt "$WORK/$opt-up")" ||
    fail "$opt: the resume from the upgraded file differs from the resume from version 2"
  pass "$opt: a version-1 checkpoint is refused everywhere but upgrade, which writes its version-2 twin"
done
