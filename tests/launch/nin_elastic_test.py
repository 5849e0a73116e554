#!/usr/bin/env python3
"""launch/nin_elastic's decisions without hypothesis: flags, the Exit that ends the launcher,
the batch rule, restarts and back-off, the pool of hosts, the launch command. No process starts."""
import contextlib
import io
import os
import shutil
import sys
import tempfile
import unittest
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "launch"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from nin_elastic import agent, cli, hosts, supervisor  # noqa: E402  (after the path)
from nin_elastic.common import EXIT_FAULT, EXIT_INPUT, EXIT_OK, EXIT_PREEMPTED, Exit  # noqa: E402
from nin_elastic.run_facts import CHECKPOINT_NAME, RunFacts  # noqa: E402
from nin_elastic.watch import Loss  # noqa: E402


def args(**kw):
    base = dict(hostfile=None, slurm=False, np=None, min_ranks=1, max_restarts=3, backoff=0.0, grow_every=30.0,
                grace=30.0, launcher_args="", nin="nin-dist", train=["--config", "c.toml"])
    return SimpleNamespace(**{**base, **kw})


class Flags(unittest.TestCase):
    def test_resume_is_refused_with_exit_2(self):
        for flag in (["--resume", "auto"], ["--resume=auto"]):
            with self.assertRaises(Exit) as e:
                cli.parse_args(["--np", "2", "--"] + flag)
            self.assertEqual(e.exception.code, EXIT_INPUT)

    def test_legacy_trust_is_refused_with_exit_2_naming_upgrade(self):
        with self.assertRaises(Exit) as e:
            cli.parse_args(["--np", "2", "--", "--config", "c.toml", "--trust-legacy-checkpoint"])
        self.assertEqual(e.exception.code, EXIT_INPUT)
        self.assertIn("nin-dist upgrade OLD.nin NEW.nin --trust-legacy-checkpoint", e.exception.message)

    def test_rank_bounds_are_checked(self):
        for argv in (["--min-ranks", "0"], ["--max-restarts", "-1"], ["--np", "1", "--min-ranks", "2"]):
            with self.subTest(argv=argv), self.assertRaises(Exit) as e:
                cli.parse_args(argv)
            self.assertEqual(e.exception.code, EXIT_INPUT)

    def test_train_word_and_separator_are_dropped(self):
        self.assertEqual(cli.parse_args(["--np", "2", "--", "train", "--config", "x"]).train, ["--config", "x"])

    def test_main_turns_exit_into_message_and_code(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.main(["--", "--resume", "auto"]), EXIT_INPUT)
        self.assertEqual(out.getvalue(), "elastic: do not pass --resume: every start resumes with --resume auto\n")

    def test_help_names_only_what_exists(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            cli.parse_args(["--help"])
        self.assertNotIn(".md", out.getvalue().replace("docs/elastic.md", ""))
        with open(os.path.join(ROOT, "docs", "elastic.md")) as f:
            self.assertIn("# Elastic runs: a lost rank no longer ends the run", f.read())


class BatchRule(unittest.TestCase):
    def test_split_by_micro_batch(self):
        facts = RunFacts(96, 2, "run")
        self.assertEqual(facts.images_per_step(), 48)
        self.assertTrue(facts.splits(16))
        self.assertFalse(facts.splits(5))

    def test_checkpoint_name_is_the_cpp_one(self):
        self.assertTrue(CHECKPOINT_NAME.fullmatch("ckpt-step0000001234.nin"))
        for name in ("ckpt-step1234.nin", "ckpt-step00000012345.nin", "ckpt-step0000001234.nin.tmp"):
            self.assertFalse(CHECKPOINT_NAME.fullmatch(name), name)


class Restarts(unittest.TestCase):
    def setUp(self):
        supervisor.STOP.update(signal=0, forwarded=False)
        self.pool = hosts.Pool(args(np=4))
        run_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, run_dir, ignore_errors=True)
        self.facts = RunFacts(8, 1, run_dir)

    def judge(self, out, story=None, **kw):
        story = story or supervisor.Story(world=4)
        with contextlib.redirect_stdout(io.StringIO()):
            supervisor.judge(args(**kw), self.pool, self.facts, story, out)
        return story

    def code_of(self, out, **kw):
        with self.assertRaises(Exit) as e:
            self.judge(out, **kw)
        return e.exception.code

    def test_endings(self):
        self.assertEqual(self.code_of(supervisor.Outcome(EXIT_OK)), EXIT_OK)
        self.assertEqual(self.code_of(supervisor.Outcome(EXIT_PREEMPTED)), EXIT_PREEMPTED)
        self.assertEqual(self.code_of(supervisor.Outcome(EXIT_INPUT)), EXIT_INPUT)
        self.assertEqual(self.code_of(supervisor.Outcome(1), max_restarts=0), EXIT_FAULT)

    def test_a_stop_signal_passes_the_exit_code_through(self):
        supervisor.STOP["signal"] = 15
        self.assertEqual(self.code_of(supervisor.Outcome(EXIT_PREEMPTED)), EXIT_PREEMPTED)

    def test_a_loss_restarts_and_a_growth_restarts_bigger(self):
        story = self.judge(supervisor.Outcome(137, Loss("signal", "localhost", 1, 9)))
        self.assertEqual(story.restarts, 1)
        self.assertIn("rank 1 (host localhost) lost (signal 9)", story.why)
        self.assertEqual(self.pool.available(), [("localhost", 3)])  # the killed rank's slot
        story = self.judge(supervisor.Outcome(EXIT_PREEMPTED, grew_to=8))
        self.assertEqual((story.restarts, story.why), (0, "grow: more ranks available (4 -> 8)"))

    def test_backoff_doubles_up_to_the_cap(self):
        self.assertEqual([supervisor.backoff(5, r) for r in (1, 2, 3)], [5, 10, 20])
        self.assertEqual(supervisor.backoff(5, 30), supervisor.MAX_BACKOFF_S)

    def test_too_few_ranks_gives_up(self):
        with contextlib.redirect_stdout(io.StringIO()), self.assertRaises(Exit) as e:
            supervisor.choose_world(args(np=3, min_ranks=3), hosts.Pool(args(np=3)), RunFacts(8, 1, "run"),
                                    supervisor.Story())
        self.assertEqual(e.exception.code, EXIT_FAULT)


class Hosts(unittest.TestCase):
    def test_a_lost_host_returns_when_the_file_changes(self):
        with tempfile.NamedTemporaryFile("w", suffix=".hosts") as f:
            f.write("a slots=2\nb slots=2\n")
            f.flush()
            pool = hosts.Pool(args(hostfile=f.name))
            pool.lose_host("a")
            self.assertEqual(pool.available(), [("b", 2)])
            os.utime(f.name, ns=(0, 1))  # a new stamp
            self.assertEqual(pool.available(), [("a", 2), ("b", 2)])

    def test_a_hostile_host_name_is_refused(self):
        with self.assertRaises(Exit) as e:
            hosts.check_host("-oProxyCommand=x", "test")
        self.assertEqual(e.exception.code, EXIT_INPUT)


class Command(unittest.TestCase):
    def test_local_mpirun_resumes_auto(self):
        cmd = supervisor.launch_command(args(), [("localhost", 2)], 2, None)
        self.assertEqual(cmd[:3], ["mpirun", "-np", "2"])
        self.assertEqual(cmd[-5:], ["train", "--config", "c.toml", "--resume", "auto"])

    def test_host_list_goes_through_our_agent(self):
        with tempfile.TemporaryDirectory() as d:
            cmd = supervisor.launch_command(args(launcher_args="--mca plm_rsh_agent rsh"), [("a", 1)], 1,
                                            os.path.join(d, "hosts"))
        i = cmd.index("plm_rsh_agent")
        self.assertEqual(cmd[i + 1], agent.ENTRY + " --agent")
        self.assertTrue(os.access(agent.ENTRY, os.X_OK))
        self.assertEqual(os.environ["NIN_ELASTIC_AGENT"], "rsh")

    def test_slurm_uses_srun_on_the_placed_nodes(self):
        cmd = supervisor.launch_command(args(slurm=True), [("n0", 2), ("n1", 1)], 3, None)
        self.assertEqual(cmd[:5], ["srun", "--mpi=pmix", "--kill-on-bad-exit=1", "--ntasks=3", "--nodes=2"])
        self.assertIn("--nodelist=n0,n1", cmd)


if __name__ == "__main__":
    unittest.main(verbosity=1)
