#!/usr/bin/env bash
# launch/elastic's inputs: a huge slot count does not make the world-size search spin, and a
# host name that could pass for an option (-J..., -oProxyCommand=...) is refused with exit 2.
source "$(dirname "$0")/../lib/common.bash"
ELASTIC="$NIN_SOURCE_DIR/launch/elastic"
out=$(PYTHONPATH="$NIN_SOURCE_DIR/launch" PYTHONDONTWRITEBYTECODE=1 timeout 20 /usr/bin/python3 - <<'PY'
from nin_elastic.run_facts import RunFacts, world_for
print(world_for(10**12, RunFacts(32, 1, "run"), 1), world_for(10**12, RunFacts(96, 2, "run"), 1))
PY
) || fail "world_for did not answer within 20 s (exit $?)"
[ "$out" = "32 48" ] || fail "world_for gave '$out', expected '32 48'"
pass "the world-size search starts from what divides the batch"

printf 'localhost slots=1\n-Jevil@example.org slots=2\n' > "$WORK/hosts"
expect_exit 2 "hosts:2: host name '-Jevil@example.org' is not a plain host name" \
  "$ELASTIC" --nin "$NIN" --hostfile "$WORK/hosts" -- --config "$SMOKE" --run-dir "$WORK/run"
[ ! -e "$WORK/run" ] || fail "the run started"
