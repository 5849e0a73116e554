#!/usr/bin/python3
"""Judges and tabulates a soak run for bench/soak.sh: RSS and fd samples per rank, the exit
status, epochs and checkpoints kept; writes soak.md and soak.json to RESULTS, exits 1 on a
failed check.

Usage: soak_report.py SAMPLES_CSV RESULTS NP RC CKPTS KEEP EPOCH_LINES EPOCHS WARMUP_FRAC
                      MAX_GROWTH COMMAND QUICK   (QUICK: "quick" or "")"""
import csv, datetime, json, os, statistics, sys
samples, results, np_, rc, ckpts, keep, epoch_lines, epochs, warm, max_growth, command, quick = sys.argv[1:]
np_, rc, ckpts, keep, epoch_lines, epochs = map(int, (np_, rc, ckpts, keep, epoch_lines, epochs))
warm, max_growth = float(warm), float(max_growth)
by_rank = {}
for row in csv.DictReader(open(samples)):
    by_rank.setdefault(int(row["rank"]), []).append((float(row["t_s"]), int(row["rss_kb"]), int(row["fds"])))
failures = []
if rc != 0:
    failures.append(f"nin-dist exited with status {rc}")
if epoch_lines != epochs:
    failures.append(f"{epoch_lines} epochs in metrics.jsonl, expected {epochs}")
if ckpts != keep:
    failures.append(f"{ckpts} checkpoints in the run directory, expected checkpoint.keep = {keep}")
if sorted(by_rank) != list(range(np_)):
    failures.append(f"sampled ranks {sorted(by_rank)}, expected 0..{np_ - 1}")
rows, per_rank = [], {}
for rank, s in sorted(by_rank.items()):
    s = s[:-2]  # the last two samples may fall in MPI_Finalize, which closes fds and frees memory
    n = len(s)
    if n < 8:
        failures.append(f"rank {rank}: only {n} samples; run longer or sample more often (INTERVAL)")
        continue
    # Medians of a window just after warm-up and of the last tenth: one checkpoint write's
    # transient buffers or fd do not decide the verdict; steady growth does.
    w0 = int(n * warm)
    base_win, end_win = s[w0:w0 + max(2, n // 10)], s[-max(2, n // 10):]
    rss_base = statistics.median(x[1] for x in base_win) / 1024
    rss_end = statistics.median(x[1] for x in end_win) / 1024
    growth = rss_end / rss_base - 1
    fd_base, fd_end = min(x[2] for x in base_win), min(x[2] for x in end_win)
    per_rank[rank] = {"samples": n, "rss_mb_first": s[0][1] / 1024, "rss_mb_after_warmup": rss_base,
                      "rss_mb_end": rss_end, "rss_mb_peak": max(x[1] for x in s) / 1024, "rss_growth": growth,
                      "fds_first": s[0][2], "fds_after_warmup": fd_base, "fds_last": s[-1][2], "fds_end_min": fd_end}  # first: before MPI_Init
    if growth > max_growth and not quick:  # 48 steps: RSS is still ramping up, no verdict
        failures.append(f"rank {rank}: RSS grew {100 * growth:.1f}% after warm-up ({rss_base:.0f} -> {rss_end:.0f} MB)")
    if fd_end > fd_base:
        failures.append(f"rank {rank}: open fds grew after warm-up ({fd_base} -> {fd_end})")
    rows.append(f"| {rank} | {n} | {rss_base:.0f} | {rss_end:.0f} | {100 * growth:+.1f}% | {per_rank[rank]['rss_mb_peak']:.0f} "
                f"| {s[0][2]} / {fd_base} / {s[-1][2]} |")
table = ["| rank | samples | RSS MB after warm-up | RSS MB at end | growth | peak RSS MB | fds first / after warm-up / last |",
         "|---|---|---|---|---|---|---|", *rows]
status = "all checks passed" if not failures else "FAILED:\n" + "\n".join("- " + f for f in failures)
now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
note = "\n\nQUICK: RSS growth reported, not checked (the run is too short to leave warm-up)" if quick else ""
text = "\n".join(table) + note + f"\n\ncheckpoints kept: {ckpts} (checkpoint.keep = {keep}); epochs: {epoch_lines}/{epochs}\n\nChecks: {status}"
print("\n" + text)
with open(os.path.join(results, "soak.md"), "w") as f:
    f.write(f"# Soak ({now}, {os.cpu_count()} cores)\n\nCommand: `{command}`\n\n{text}\n\nSamples: soak_samples.csv\n")
with open(os.path.join(results, "soak.json"), "w") as f:
    json.dump({"date": now, "command": command, "ranks": per_rank, "checkpoints": ckpts, "keep": keep,
               "epochs": epoch_lines, "failures": failures}, f, indent=1)
print(f"wrote {results}/soak.md, soak.json and soak_samples.csv")
sys.exit(1 if failures else 0)
