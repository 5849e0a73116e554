#!/usr/bin/env bash
# Runs one rank of nin-dist under /usr/bin/time: its peak RSS (KiB) goes to $NIN_RSS_DIR/rss.<rank>.
# Used by dp_scaling.sh as NIN for launch/local.sh; NIN_REAL is the nin-dist binary.
set -euo pipefail
: "${NIN_REAL:?path of the nin-dist binary}" "${NIN_RSS_DIR:?directory for the rss.<rank> files}"
exec /usr/bin/time -f %M -o "$NIN_RSS_DIR/rss.${OMPI_COMM_WORLD_RANK:-0}" "$NIN_REAL" "$@"
