"""lint on every core: forked workers give the same results, in order, as one process, and a worker
that dies or sends what cannot be pickled costs time, never a result.

The pytest process has imported torch, so nothing is forked in it (parallel.can_fork): each case
here runs in a fresh interpreter, as the CLI does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import CONFIGS

from cnninspect import parallel

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter; fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_items_are_shared_among_workers_and_come_back_in_order():
    done = run_python(
        """
        import json, os, time
        from cnninspect.parallel import map_forked
        results = list(map_forked(lambda n: time.sleep(0.01) or (n * n, os.getpid()), range(100), 2))
        print(json.dumps({"parent": os.getpid(), "results": results}))
        """
    )
    seen = json.loads(done.stdout)
    assert [square for square, _ in seen["results"]] == [n * n for n in range(100)]
    pids = [pid for _, pid in seen["results"]]
    assert pids[0] == seen["parent"]  # the first item warms the imports in the parent
    assert len(set(pids[1:])) == 2 and seen["parent"] not in pids[1:]


def test_a_worker_held_up_by_one_item_leaves_the_rest_to_the_others(tmp_path):
    # item 1 waits until item 61 is done: a fixed share (every other item, or every other run of
    # items) could give both to the same worker, which would wait for itself; taken on demand, the
    # other worker takes every run while the first one waits
    done = run_python(
        """
        import json, os, sys, time
        from pathlib import Path
        from cnninspect.parallel import map_forked
        flag = Path(sys.argv[1])
        def work(n):
            if n == 1:
                end = time.monotonic() + 60
                while not flag.exists() and time.monotonic() < end:
                    time.sleep(0.01)
                return "waited" if flag.exists() else "stuck"
            if n == 61:
                flag.touch()
            return os.getpid()
        print(json.dumps(list(map_forked(work, range(100), 2))))
        """,
        str(tmp_path / "flag"),
    )
    results = json.loads(done.stdout)
    assert results[1] == "waited"
    assert len(set(results[2:])) == 2  # both workers took runs


def test_thirty_two_items_are_enough_for_two_workers():
    done = run_python(
        """
        import os, time
        from cnninspect.parallel import map_forked
        pids = {pid for pid in map_forked(lambda n: time.sleep(0.01) or os.getpid(), range(32), 2)}
        print(len(pids - {os.getpid()}))
        """
    )
    assert done.stdout.strip() == "2"  # 32 // MIN_ITEMS_PER_WORKER, the first item included


def test_a_worker_killed_midway_leaves_its_items_to_the_parent():
    done = run_python(
        """
        import json, os, signal
        from cnninspect.parallel import map_forked
        parent = os.getpid()
        def work(n):
            if n == 41 and os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            return n + 1000
        print(json.dumps(list(map_forked(work, range(100), 2))))
        """
    )
    assert json.loads(done.stdout) == [n + 1000 for n in range(100)]


def test_a_result_that_cannot_be_pickled_or_unpickled_is_worked_out_by_the_parent():
    done = run_python(
        """
        import os, threading
        from cnninspect.parallel import map_forked
        class Odd(Exception):  # pickles, but unpickling calls Odd(a) without b
            def __init__(self, a, b):
                super().__init__(a)
        def work(n):
            return threading.Lock() if n == 7 else Odd(n, 2) if n == 8 else n
        results = list(map_forked(work, range(64), 2))
        print(type(results[7]).__name__, type(results[8]).__name__, results[9:] == list(range(9, 64)))
        """
    )
    assert done.stdout.split() == ["lock", "Odd", "True"]


def test_out_of_file_descriptors_the_workers_made_so_far_do_the_work():
    done = run_python(
        """
        import resource, time
        from cnninspect.parallel import map_forked
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
        print(list(map_forked(lambda n: time.sleep(0.001) or n * 3, range(2000), 64)) == [n * 3 for n in range(2000)])
        """
    )
    assert done.stdout.strip() == "True"


def test_a_worker_keeps_ignoring_ctrl_c_when_its_parent_does():
    # started with & from a script, a command ignores SIGINT: its workers must too
    done = run_python(
        """
        import os, signal
        from cnninspect.parallel import map_forked
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        parent = os.getpid()
        def work(n):
            if os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGINT)
            return os.getpid()
        print(sum(pid == parent for pid in map_forked(work, range(64), 2)))
        """
    )
    assert done.stdout.strip() == "1"  # the first item only: no worker died, none left items over


def test_leaving_early_stops_and_reaps_every_worker():
    done = run_python(
        """
        import os, time
        from cnninspect.parallel import map_forked
        results = map_forked(lambda n: time.sleep(0.05) or n, range(400), 2)
        print(next(results), next(results))
        results.close()
        try:
            print(os.waitpid(-1, os.WNOHANG))
        except ChildProcessError:
            print("no children")
        """
    )
    assert done.stdout.splitlines() == ["0 1", "no children"]


def test_torch_imported_means_no_fork():
    done = run_python(
        """
        import os, torch
        from cnninspect.parallel import map_forked
        print(len({pid for pid in map_forked(lambda n: os.getpid(), range(100), 2)}))
        """
    )
    assert done.stdout.strip() == "1"


@pytest.mark.parametrize(
    ("items", "jobs", "cores", "workers"),
    [
        (1000, 1, 8, 1),  # --jobs 1: this process alone
        (1000, 0, 1, 1),  # one core
        (1000, 0, 8, 8),  # one per core
        (1000, 3, 8, 3),
        (31, 0, 8, 1),  # not enough files for two workers
        (32, 0, 8, 2),
        (100, 0, 8, 100 // parallel.MIN_ITEMS_PER_WORKER),
    ],
)
def test_worker_count(monkeypatch, items, jobs, cores, workers):
    monkeypatch.setattr(parallel, "usable_cores", lambda: cores)
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    assert parallel.worker_count(items, jobs) == workers


@pytest.fixture
def many_files(tmp_path):
    """40 files: every config and broken config (clean specs, findings of every kind, darknet,
    Hydra, Ultralytics), a file that is not a spec and one that is broken YAML."""
    sources = sorted(p for p in CONFIGS.rglob("*") if p.suffix in (".yaml", ".cfg"))
    for n in range(40):
        source = sources[n % len(sources)]
        (tmp_path / f"{n:02}_{source.name}").write_bytes(source.read_bytes())
    (tmp_path / "38_workflow.yaml").write_text("on: push\njobs: {}\n")
    (tmp_path / "39_bad.yaml").write_text("layers: [\n")
    return tmp_path


@pytest.mark.parametrize("fmt", ["json", "full"])
def test_lint_in_workers_says_exactly_what_one_process_says(many_files, fmt):
    command = [sys.executable, "-m", "cnninspect", "lint", str(many_files), "--format", fmt]
    one = subprocess.run([*command, "--jobs", "1"], capture_output=True, text=True, timeout=300)
    two = subprocess.run([*command, "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert one.returncode == two.returncode == 1
    assert (two.stdout, two.stderr) == (one.stdout, one.stderr)
    assert "CNN201" in one.stdout and "CNN101" in one.stdout and "39_bad.yaml" in one.stdout


def test_a_bug_in_a_worker_is_reported_with_its_traceback(many_files):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import os, sys
                from cnninspect import cli, linter
                parent, real, victim = os.getpid(), linter.find_problems, "05_" + sys.argv[2]
                def explode(trace, *args, **kwargs):
                    if trace.spec.source.endswith(victim) and os.getpid() != parent:
                        raise RuntimeError("boom in a worker")
                    return real(trace, *args, **kwargs)
                linter.find_problems = explode
                sys.argv = ["cnninspect", "lint", sys.argv[1], "--format", "concise", "--debug"]
                cli.run()
                """
            ),
            str(many_files),
            sorted(p.name[3:] for p in many_files.iterdir() if p.name.startswith("05_"))[0],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "internal error: cnninspect failed on this file (RuntimeError: boom in a worker)" in done.stdout
    assert "Traceback (most recent call last)" in done.stderr and "in explode" in done.stderr
    assert "CNN201" in done.stdout  # the other files were checked
