"""Many small jobs on every core: lint's files shared among forked worker processes.

A forked process starts with every module its parent has imported, so a worker costs a few
milliseconds, not a fresh interpreter. The items are cut into runs (about eight per worker),
whose numbers wait in one pipe that every worker reads: a worker takes the next run when it has
finished its last, so one slow file holds up only the worker that has it. Each result goes back
as soon as it is made (pickled, length-prefixed, on the worker's own pipe); the parent gives the
results in the items' order. An item whose result never arrives (a worker killed, a result that
cannot be pickled) is worked on again in the parent, so a worker's failure costs time, never a
result; so does a system out of processes or file descriptors (fewer workers, or none). Where
fork is not safe or not cheap the items are worked on here, one after another: on any system but
Linux, and in a process that has imported torch, whose thread pools do not survive a fork.
"""

from __future__ import annotations

import os
import pickle
import selectors
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")

MIN_ITEMS_PER_WORKER = 16
"""A worker costs about as much as this many small spec files; fewer items are not worth one."""
LENGTH_BYTES = 8
"""Each result is sent as its pickle's length in this many bytes, then the pickle."""
RUNS_PER_WORKER = 8
"""Runs of items per worker: enough that the workers finish together, few enough to cost nothing."""
RUN_BYTES = 2
"""A run's number in the queue."""
MAX_RUNS = 2048
"""Every run's number fits in the queue pipe before any worker reads (4 KiB, the least a pipe
holds); reads of RUN_BYTES from it are whole, as the writes are."""


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - every Linux has sched_getaffinity


def can_fork() -> bool:
    """Whether a worker may be forked from this process: on Linux, before torch is imported."""
    return sys.platform == "linux" and "torch" not in sys.modules


def worker_count(items: int, jobs: int) -> int:
    """How many processes share ``items`` items when ``jobs`` are asked for (0: one per usable core);
    1 means the items are worked on in this process."""
    wanted = jobs or usable_cores()
    if wanted < 2 or not can_fork():
        return 1
    return max(1, min(wanted, items // MIN_ITEMS_PER_WORKER))


def map_forked(function: Callable[[Item], Result], items: Sequence[Item], jobs: int) -> Iterator[Result]:
    """``function`` of every item, in the items' order, worked on in up to ``jobs`` processes (0: one
    per usable core). The first item is worked on here, so that what it imports is imported once,
    before the workers are forked; they are forked before this returns (before the caller starts any
    thread, such as a progress bar's), and the results come as the iterator is read. ``function``
    must not raise: a worker that fails leaves its items to this process."""
    workers = worker_count(len(items), jobs)
    if workers == 1:
        return (function(item) for item in items)
    done = {0: function(items[0])}
    if not can_fork():  # the first item imported torch
        return _collect(function, items, {}, done)
    runs = _runs(range(1, len(items)), workers)
    pipes: dict[int, int] = {}  # read end → worker pid
    try:
        queue, queued = os.pipe()
    except OSError:  # out of file descriptors: this process works on every item
        return _collect(function, items, pipes, done)
    try:
        os.write(queued, b"".join(number.to_bytes(RUN_BYTES, "big") for number in range(len(runs))))
        os.close(queued)
        for _ in range(workers):
            read_end, write_end = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(read_end)
                os.close(write_end)
                raise
            if pid == 0:  # the worker: never returns into the caller's code
                os.close(read_end)
                for other in pipes:
                    os.close(other)
                _work(function, items, runs, queue, write_end)
            os.close(write_end)
            pipes[read_end] = pid
    except OSError:  # out of processes or file descriptors: the workers made so far share the items
        pass
    finally:
        os.close(queue)
    return _collect(function, items, pipes, done)


def _runs(indices: range, workers: int) -> list[range]:
    """``indices`` cut into consecutive runs, about RUNS_PER_WORKER per worker and at most MAX_RUNS."""
    count = max(1, min(workers * RUNS_PER_WORKER, MAX_RUNS, len(indices)))
    size = -(-len(indices) // count)
    return [indices[start : start + size] for start in range(0, len(indices), size)]


def _work(
    function: Callable[[Item], Result], items: Sequence[Item], runs: list[range], queue: int, write_end: int
) -> NoReturn:
    """A worker's life: the next run from the queue until it is empty, each result sent as it comes,
    then exit without running the parent's exit handlers or flushing its buffers."""
    status = 1
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C stops the worker, not a copy of the CLI
        with os.fdopen(write_end, "wb") as out:
            while len(taken := os.read(queue, RUN_BYTES)) == RUN_BYTES:
                for index in runs[int.from_bytes(taken, "big")]:
                    result = function(items[index])
                    try:
                        data = pickle.dumps((index, result), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception:  # the parent works this one out itself
                        continue
                    out.write(len(data).to_bytes(LENGTH_BYTES, "big") + data)
                    out.flush()
        status = 0
    finally:
        os._exit(status)


def _collect(
    function: Callable[[Item], Result], items: Sequence[Item], pipes: dict[int, int], done: dict[int, Result]
) -> Iterator[Result]:
    """The results in the items' order: those ``done`` already, and the workers' as they arrive on their
    pipes; the items no worker answered for are worked on here at the end."""
    following = 0
    waiting = {read_end: bytearray() for read_end in pipes}
    selector = selectors.DefaultSelector()
    try:
        for read_end in pipes:
            selector.register(read_end, selectors.EVENT_READ)
        while waiting:
            for key, _ in selector.select():
                read_end = int(key.fd)
                chunk = os.read(read_end, 1 << 16)
                if not chunk:  # the worker has finished, or died
                    pid = pipes.pop(read_end)
                    del waiting[read_end]
                    selector.unregister(read_end)
                    os.close(read_end)
                    os.waitpid(pid, 0)
                    continue
                received = waiting[read_end]
                received += chunk
                for index, result in _frames(received):
                    done[index] = cast(Result, result)  # what a worker's ``function`` returned
            while following in done:
                yield done.pop(following)
                following += 1
        for index in range(following, len(items)):
            yield done.pop(index) if index in done else function(items[index])
    finally:
        selector.close()
        for read_end, pid in pipes.items():  # left early (an exception): stop the rest
            os.close(read_end)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _frames(received: bytearray) -> Iterator[tuple[int, object]]:
    """The whole results at the start of ``received``, removed from it as they are read; one that
    cannot be unpickled here is left out (the parent works that item out itself)."""
    while len(received) >= LENGTH_BYTES:
        size = int.from_bytes(received[:LENGTH_BYTES], "big")
        if len(received) < LENGTH_BYTES + size:
            return
        frame = bytes(received[LENGTH_BYTES : LENGTH_BYTES + size])
        del received[: LENGTH_BYTES + size]
        try:
            index, result = pickle.loads(frame)
        except Exception:
            continue
        yield index, result
