#!/usr/bin/env python3
"""launch/nin_elastic's pure functions: host files (hostile ones too), the world size it chooses,
the checkpoint-name pattern and the launcher-output patterns. Fast: no process is started."""
import io
import os
import string
import sys
import tempfile
import unittest
from types import SimpleNamespace

try:
    from hypothesis import given, settings, strategies as st
except ImportError:
    print("skipped: python3 lacks hypothesis (scripts/setup.sh installs python3-hypothesis)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "launch"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from nin_elastic import hosts as elastic_hosts  # noqa: E402  (after the path)
from nin_elastic.common import EXIT_INPUT, Exit  # noqa: E402
from nin_elastic.hosts import MAX_SLOTS  # noqa: E402
from nin_elastic.run_facts import RunFacts, newest_checkpoint, world_for  # noqa: E402
from nin_elastic.watch import Loss, Watch  # noqa: E402

FAST = settings(max_examples=200, deadline=None, database=None)  # no .hypothesis/ in the source tree


def hostfile(text):
    f = tempfile.NamedTemporaryFile("wb", suffix=".hosts", delete=False)
    f.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    f.close()
    return f.name


def read(text):
    """(hosts, None) or (None, exit code) for a host file holding `text`."""
    path = hostfile(text)
    try:
        return elastic_hosts.read_hostfile(path)[0], None
    except Exit as e:
        return None, e.code
    finally:
        os.unlink(path)


class HostFile(unittest.TestCase):
    def test_names_slots_comments_in_order(self):
        hosts, code = read("# cluster\nnode1 slots=4\n\nnode2   # one slot\n10.0.0.3 slots=2 max_slots=8\n")
        self.assertIsNone(code)
        self.assertEqual(hosts, [("node1", 4), ("node2", 1), ("10.0.0.3", 2)])

    def test_empty_file_has_no_hosts(self):
        self.assertEqual(read(""), ([], None))
        self.assertEqual(read("# nothing\n\n   \n"), ([], None))

    def test_duplicates_and_unresolvable_names_are_kept_as_written(self):
        # Names are not resolved here: mpirun reports an unreachable host as a lost node.
        hosts, code = read("a slots=1\nno-such-host.invalid slots=2\na slots=3\n")
        self.assertIsNone(code)
        self.assertEqual(hosts, [("a", 1), ("no-such-host.invalid", 2), ("a", 3)])

    def test_hostile_names_are_refused(self):
        for name in ("-oProxyCommand=x", "node;rm", "nöde", "a/b", "$(id)", "x" * 300):
            with self.subTest(name=name):
                self.assertEqual(read(f"{name} slots=1\n"), (None, EXIT_INPUT))

    def test_absurd_slot_counts_are_refused(self):
        for slots in ("-1", "abc", "", "1e3", "1_000", "\u0663", "99999999999999999999", str(MAX_SLOTS + 1)):
            with self.subTest(slots=slots):
                self.assertEqual(read(f"node slots={slots}\n"), (None, EXIT_INPUT))
        self.assertEqual(read(f"node slots=0\nbig slots={MAX_SLOTS}\n"),
                         ([("node", 0), ("big", MAX_SLOTS)], None))

    def test_unreadable_bytes_are_refused(self):
        self.assertEqual(read(b"node\xff\xfe slots=1\n"), (None, EXIT_INPUT))
        self.assertEqual(read(b"\x00\x00\x00"), (None, EXIT_INPUT))

    @FAST
    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
    def test_any_text_gives_plain_hosts_or_exit_2(self, text):
        hosts, code = read(text)
        if hosts is None:
            self.assertEqual(code, EXIT_INPUT)
            return
        for name, slots in hosts:
            self.assertRegex(name, r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
            self.assertTrue(0 <= slots <= MAX_SLOTS)

    @FAST
    @given(st.lists(st.tuples(st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12),
                              st.integers(0, MAX_SLOTS)), max_size=20))
    def test_a_written_host_list_reads_back(self, entries):
        text = "".join(f"{h} slots={s}\n" for h, s in entries)
        self.assertEqual(read(text), (entries, None))


class World(unittest.TestCase):
    @FAST
    @given(st.integers(0, 300), st.integers(1, 512), st.sampled_from([1, 2, 4]), st.integers(1, 8))
    def test_the_largest_rank_count_that_splits_the_batch(self, available, batch, accumulate, min_ranks):
        facts = RunFacts(batch * accumulate, accumulate, "run")
        n = world_for(available, facts, min_ranks)
        valid = [k for k in range(min_ranks, available + 1) if batch % k == 0]
        self.assertEqual(n, max(valid) if valid else None)

    def test_examples(self):
        facts = RunFacts(128, 1, "run")
        self.assertEqual(world_for(8, facts, 1), 8)
        self.assertEqual(world_for(7, facts, 1), 4)
        self.assertEqual(world_for(3, facts, 3), None)
        self.assertEqual(world_for(10**9, RunFacts(96, 2, "run"), 1), 48)

    @FAST
    @given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 64)), max_size=10),
           st.integers(0, 400))
    def test_placement_fills_hosts_in_order(self, hosts, n):
        placement = elastic_hosts.place(hosts, n)
        self.assertEqual(sum(k for _, k in placement), min(n, sum(s for _, s in hosts)))
        for (h, k), (h0, s) in zip(placement, hosts):
            self.assertEqual(h, h0)
            self.assertTrue(0 <= k <= s)


class CheckpointName(unittest.TestCase):
    def test_newest_by_step_and_nothing_else(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertIsNone(newest_checkpoint(d))
            for name in ("ckpt-step0000000010.nin", "ckpt-step0000000200.nin", "ckpt-step0000000200.nin.tmp",
                         "ckpt-step9999999999.nin.bad", "xckpt-step0000009999.nin", "ckpt-stepabc.nin"):
                open(os.path.join(d, name), "w").close()
            self.assertEqual(newest_checkpoint(d), "ckpt-step0000000200.nin")
        self.assertIsNone(newest_checkpoint("/nonexistent/run"))


class LauncherOutput(unittest.TestCase):
    def watch(self, lines, placement=(("n0", 2), ("n1", 2))):
        w = Watch(SimpleNamespace(stdout=io.StringIO("")), list(placement))
        for line in lines:
            w.parse(line)
        return w

    def test_mpirun_signal_names_our_host_by_placement(self):
        w = self.watch(["mpirun noticed that process rank 3 with PID 123 on node 10.0.0.9 exited on signal 9 (Killed)."])
        self.assertEqual(w.cause(), Loss("signal", "n1", 3, 9))

    def test_mpirun_exit_code_joins_its_rank(self):
        w = self.watch(["  Process name: [[4242,1],1]", "  Exit code:    1"])
        self.assertEqual(w.cause(), Loss("exit", "n0", 1, 1))

    def test_a_preempted_rank_is_no_loss(self):
        w = self.watch(["  Process name: [[4242,1],2]", "  Exit code:    3"])
        self.assertIsNone(w.cause())

    def test_a_lost_node_comes_before_the_ranks_it_took(self):
        w = self.watch(["  Process name: [[1,1],0]", "  Exit code:    1",
                        "Remote daemon: [[1,0],1] on node n1", "srun: error: n0: task 1: Killed"])
        self.assertEqual(w.cause().what, "node")
        self.assertEqual(w.cause().host, "n1")

    def test_srun_wordings(self):
        w = self.watch(["srun: error: n1: task 2: Exited with exit code 7"])
        self.assertEqual(w.cause(), Loss("exit", "n1", 2, 7))
        w = self.watch(["srun: error: n1: tasks 2-3: Segmentation fault"])
        self.assertEqual(w.cause(), Loss("signal", "n1", 2, 11))
        w = self.watch(["srun: error: Node failure on n0"])
        self.assertEqual(w.cause(), Loss("node", "n0", how="Slurm: node failure"))

    def test_agent_lost(self):
        w = self.watch(["elastic: agent: host n1 lost: ssh ended with exit code 255"])
        self.assertEqual(w.cause().host, "n1")
        self.assertIn("ended with exit code 255", w.cause().how)

    def test_rank_out_of_the_placement_keeps_the_reported_host(self):
        w = self.watch(["process rank 99 with PID 1 on node far exited on signal 15"])
        self.assertEqual(w.cause(), Loss("signal", "far", 99, 15))

    @FAST
    @given(st.lists(st.text(max_size=120), max_size=8))
    def test_any_output_parses_without_error(self, lines):
        self.watch(lines).cause()


if __name__ == "__main__":
    unittest.main(verbosity=1)
