"""The command line's options, each declared once with the same metavar, default and help on
every command, and the groups a command parses them into (``ModelSource``, ``WhatIf``,
``ModelOptions``). Nothing here prints or exits; cli.py does.

Light on purpose: the CLI builds every command's options from this module, so it imports only
the choices the options are made of, never an engine, the checks or torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperArgument, TyperCommand

from cnninspect.engines import Engine, Mode
from cnninspect.errors import Location, UsageError

if TYPE_CHECKING:
    from cnninspect.inputs.base import ReadOptions
    from cnninspect.spec.overrides import Overrides

MODEL_TIMEOUT = 120.0
"""Seconds a --model's code may run: the --model engine's own default (a test keeps them one)."""
SPEC_FORMATS = ("cnninspect YAML spec", "darknet .cfg", "Hydra config", "Ultralytics model YAML")
"""Every kind of model file the commands read, as the help names them: the titles of the input
formats' registry (inputs.FORMATS), which --help does not import (a test keeps them one)."""
SPEC_SUFFIXES = ("*.yaml", "*.yml", "*.cfg")
"""What lint's walk of a folder looks at (inputs.FILE_SUFFIXES; a test keeps them one)."""


def listing(items: Sequence[str], last: str) -> str:
    """``a, b and c`` (``last``: and, or)."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def either(items: Sequence[str]) -> str:
    """``a, b or c``."""
    return listing(items, "or")


class PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: ``PATH...``, not ``{PATH}... <list[str]>``. Only
    Click's public hooks are overridden (the help record and the usage pieces)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (self._plain_name(), record[1])

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        return [self._plain_name() if self.required else f"[{self._plain_name()}]"]

    def _plain_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")


class CnnInspectCommand(TyperCommand):
    """A command whose arguments read like the values a user types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.__class__ = PlainArgument


class ExportTarget(StrEnum):
    """What ``export`` writes."""

    PYTORCH = "pytorch"


# Options: each one means the same thing, with the same metavar and default, on every command.
SpecArg = Annotated[
    Optional[Path],
    typer.Argument(
        metavar="SPEC",
        help=f"A model file: {either(SPEC_FORMATS)}. Omitted: the built-in tutorial model (Example 1).",
        show_default=False,
    ),
]
LayersOpt = Annotated[
    Optional[str],
    typer.Option(
        "--layers",
        metavar="LAYERS",
        help='Layers in PyTorch call syntax instead of a SPEC, e.g. "Conv2d(3,16,3,stride=2,padding=1) ReLU() '
        'Flatten() Linear(4096,10)". Parsed, never run.',
        show_default=False,
    ),
]
ModelInputOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--input",
        metavar="CxHxW",
        help="Input of one sample, channels first, e.g. 3x64x64 (no batch: see --batch). Repeat it for a "
        "--model with several inputs.",
        show_default=False,
    ),
]
InputOpt = Annotated[
    Optional[str],
    typer.Option(
        "--input",
        metavar="CxHxW",
        help="Input of one sample, channels first, e.g. 3x64x64 (no batch).",
        show_default=False,
    ),
]
ScaleOpt = Annotated[
    Optional[str],
    typer.Option(
        "--scale",
        metavar="SCALE",
        help="Which scale of a file that defines several to build (Ultralytics' n, s, m, l, x) [default: the "
        "file name's, else the first].",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        metavar="FILE.py:NAME",
        help="Your own nn.Module instead of a SPEC: path/to/file.py:NAME or package.module:NAME (a class, "
        "factory function or instance), or a node of a Hydra config, path/to/config.yaml:NODE (built by "
        "hydra.utils.instantiate). THIS IMPORTS AND RUNS YOUR CODE. Needs --input (a Hydra config may give it in "
        "a # cnninspect: input comment).",
        show_default=False,
    ),
]
ArgOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--arg",
        metavar="KEY=VALUE",
        help="A constructor argument for --model, as a Python literal (repeatable).",
        show_default=False,
    ),
]
OverrideOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--override",
        metavar="KEY=VALUE",
        help="A Hydra override of a --model config.yaml:NODE, e.g. model.net.kernel=5 or model=resnet (repeatable).",
        show_default=False,
    ),
]
DtypeOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--dtype",
        metavar="DTYPE",
        help="Input dtype for --model, e.g. int64 for token ids: one for all inputs, or one per --input.",
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    Optional[float],
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Stop your --model's code (import, construction, forward passes) after this many seconds "
        f"[default: {MODEL_TIMEOUT:g}].",
        show_default=False,
    ),
]
ModeOpt = Annotated[
    Optional[Mode],
    typer.Option(
        "--mode",
        help="Trace your --model in eval (inference) or train mode [default: eval for a class or factory, an "
        "instance's own mode].",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    Optional[int],
    typer.Option("--batch", metavar="N", min=1, help="Batch size of the dummy input [default: 1].", show_default=False),
]
KernelOpt = Annotated[
    Optional[int],
    typer.Option("--kernel", metavar="K", min=1, help="Set kernel_size of every conv layer.", show_default=False),
]
StrideOpt = Annotated[
    Optional[int],
    typer.Option("--stride", metavar="S", min=1, help="Set stride of every conv layer.", show_default=False),
]
PaddingOpt = Annotated[
    Optional[str],
    typer.Option(
        "--padding", metavar="P", help="Set padding of every conv layer: an integer, same or valid.", show_default=False
    ),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        metavar="LAYER.ARG=VALUE",
        help="Change one argument of one layer (repeatable), e.g. --set fc.in_features=1568.",
        show_default=False,
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an internal error.")]
ENGINE_HELP = (
    "analytic: PyTorch's size formulas in pure Python, without importing torch; torch: real layers and a dummy "
    "forward pass (on the meta device when large); auto: analytic unless a layer is one only torch knows."
)
SummaryEngineOpt = Annotated[
    Optional[Engine],
    typer.Option(
        "--engine",
        help=f"{ENGINE_HELP} summary defaults to torch: its table shows what PyTorch itself computes, "
        "at the cost of importing torch; without torch installed, to analytic.",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    Engine,
    typer.Option("--engine", help=f"{ENGINE_HELP} Defaults to auto, which answers without importing torch."),
]
DepthOpt = Annotated[
    Optional[int],
    typer.Option(
        "--depth",
        metavar="N",
        min=1,
        help="Show groups and blocks (with --model: modules) down to this depth, deeper ones folded into "
        "their parent's row [default: everything].",
        show_default=False,
    ),
]


# ---------------------------------------------------------------------------------------
# Option groups: what a command was given, parsed into one value each


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    """Where the model comes from: a SPEC file, ``--layers`` or ``--model`` (none: the built-in model)."""

    spec: Path | None = None
    """SPEC, a model file."""
    layers: str | None = None
    """``--layers``, in PyTorch call syntax."""
    model: str | None = None
    """``--model FILE.py:NAME``, the user's own nn.Module."""
    scale: str | None = None
    """``--scale``: which of a file's model scales to build (Ultralytics' n, s, m, l, x)."""

    def read_options(self) -> ReadOptions:
        """How the file is read: the format options given on the command line."""
        from cnninspect.inputs.base import ReadOptions  # the input formats load only when a file is read

        return ReadOptions(scale=self.scale)


@dataclass(frozen=True, kw_only=True)
class WhatIf:
    """The what-if options, which change a spec for one run."""

    inputs: tuple[str, ...] = ()
    """``--input``: one for a spec; a ``--model`` may take several."""
    batch: int | None = None
    """``--batch``."""
    kernel: int | None = None
    """``--kernel``, for every conv layer."""
    stride: int | None = None
    """``--stride``, for every conv layer."""
    padding: str | None = None
    """``--padding``, for every conv layer."""
    sets: tuple[str, ...] = ()
    """``--set LAYER.ARG=VALUE``, each one layer's."""

    @classmethod
    def of(
        cls,
        input: str | Sequence[str] | None,
        *,
        batch: int | None = None,
        kernel: int | None = None,
        stride: int | None = None,
        padding: str | None = None,
        sets: Sequence[str] | None = None,
    ) -> WhatIf:
        """The options as Typer gives them (``--input`` once or repeated, a list option None when absent)."""
        inputs = () if input is None else (input,) if isinstance(input, str) else tuple(input)
        return cls(inputs=inputs, batch=batch, kernel=kernel, stride=stride, padding=padding, sets=tuple(sets or ()))

    def overrides(self) -> Overrides:
        """The overrides of a spec, which has one input; --input is checked at once, before any file is read."""
        from cnninspect.spec.overrides import Overrides
        from cnninspect.spec.validate import parse_input

        if len(self.inputs) > 1:
            raise UsageError("several --input are for a --model with several inputs; a spec has one")
        input = self.inputs[0] if self.inputs else None
        if input is not None:
            parse_input(input, Location("--input", 1, 1))
        return Overrides(
            input=input, batch=self.batch, kernel=self.kernel, stride=self.stride, padding=self.padding, sets=self.sets
        )


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """The options that say something about a ``--model`` only."""

    args: tuple[str, ...] = ()
    """``--arg KEY=VALUE``, constructor arguments."""
    dtypes: tuple[str, ...] = ()
    """``--dtype``, of all inputs or one per input."""
    timeout: float | None = None
    """``--timeout`` in seconds; None: MODEL_TIMEOUT."""
    mode: Mode | None = None
    """``--mode``: eval or train; None: eval for a class or factory, an instance's own mode."""
    overrides: tuple[str, ...] = ()
    """``--override KEY=VALUE``, Hydra overrides of a --model config."""

    @classmethod
    def of(
        cls,
        *,
        arg: Sequence[str] | None,
        dtype: Sequence[str] | None,
        timeout: float | None,
        mode: Mode | None = None,
        override: Sequence[str] | None = None,
    ) -> ModelOptions:
        """The options as Typer gives them (None when absent)."""
        args, dtypes, overrides = tuple(arg or ()), tuple(dtype or ()), tuple(override or ())
        return cls(args=args, dtypes=dtypes, timeout=timeout, mode=mode, overrides=overrides)

    def refuse(self) -> None:
        """--arg, --dtype, --timeout, --mode and --override say something about a --model only; alone they
        are a mistake."""
        options = (
            ("--arg", self.args),
            ("--dtype", self.dtypes),
            ("--timeout", self.timeout is not None),
            ("--mode", self.mode is not None),
            ("--override", self.overrides),
        )
        given = [name for name, value in options if value]
        if given:
            raise UsageError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --model; this run has no --model"
            )
