"""The sandbox the user's code runs in: print() on stderr, os._exit refused, --timeout enforced, and
whatever it raises turned into one line."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from cnninspect.engines.torch import import_torch, one_thread
from cnninspect.errors import CnnInspectError, ModelError
from cnninspect.text import first_line

Result = TypeVar("Result")

DEFAULT_TIMEOUT = 120.0
"""Seconds the user's code may run (import, construction, forward passes) unless --timeout says otherwise."""


class TimeUp(BaseException):
    """``--timeout`` ran out while the user's code ran."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s (--timeout SECONDS allows longer)")


class _ExitCalled(BaseException):
    """The user's code called ``os._exit``."""

    def __init__(self, code: object) -> None:
        super().__init__(f"called os._exit({code!r})")


@contextmanager
def fenced(seconds: float | None, quiet: bool = True) -> Iterator[None]:
    """While the user's code runs: print() goes to stderr (stdout may carry JSON), os._exit raises
    instead of ending the process, and after ``seconds`` SIGALRM stops the code. torch.compile runs
    nothing through torch's compiler, torch runs one intra-op thread, and, when ``quiet``, warnings
    and torch's log messages below errors are not shown."""
    real_exit = os._exit

    def refuse_exit(code: int) -> None:
        raise _ExitCalled(code)

    os._exit = refuse_exit  # type: ignore[assignment]
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
            stack.enter_context(_deadline(seconds))
            stack.enter_context(_uncompiled())
            stack.enter_context(one_thread())
            if quiet:
                stack.enter_context(_quiet())
            yield
    except (TimeUp, _ExitCalled) as error:  # between two steps that report their own
        raise ModelError(f"the model's code {describe(error)}") from error
    finally:
        os._exit = real_exit


@contextmanager
def _uncompiled() -> Iterator[None]:
    """torch.compile hands back the function or module it is given. Compiled code would make torch's
    compiler trace cnninspect's op counter (until its recompile limit, with a warning each time);
    run as it is, the same code computes the same."""
    torch: Any = import_torch()
    compile_ = torch.compile

    def as_it_is(model: object = None, **_: object) -> object:
        return model if model is not None else (lambda function: function)

    torch.compile = as_it_is
    try:
        yield
    finally:
        torch.compile = compile_


@contextmanager
def _quiet() -> Iterator[None]:
    """No warnings (PyTorch's, about the user's code) and no torch log message below an error, as
    torch's compiler writes them (``--debug`` shows them)."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """SIGALRM after ``seconds``, in the main thread of a system that has it (else no limit); the
    previous handler is restored. The alarm rings again every second, should the code swallow it."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(_signum: int, _frame: FrameType | None) -> None:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        raise TimeUp(seconds)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_user(action: Callable[[], Result], what: str) -> Result:
    """Run the user's code; anything it raises, exits included, becomes one ModelError line
    (traceback with --debug)."""
    try:
        return action()
    except (CnnInspectError, KeyboardInterrupt):
        raise
    except BaseException as error:
        raise ModelError(f"{what}: {describe(error)}") from error


def describe(error: BaseException) -> str:
    """What the user's code did: ``called sys.exit(0)``, ``ValueError: …``."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    if isinstance(error, (TimeUp, _ExitCalled)):
        return str(error)
    return f"{type(error).__name__}: {first_line(error)}"


def reason(failure: ModelError) -> str:
    """Why the meta device failed, in a sentence: torch's own messages run on for several."""
    cause = failure.__cause__
    text = failure.message if cause is None else describe(cause)
    return text.split(". ", 1)[0].rstrip(".")
