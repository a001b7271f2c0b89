"""Typer commands: parse → call the core → render → exit code. The only module that prints or exits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cnninspect import __version__
from cnninspect.errors import CnnInspectError, UsageError
from cnninspect.findings import find_problems, has_errors
from cnninspect.records import Trace
from cnninspect.report import MACHINE_RENDERERS, SummaryFormat, print_table
from cnninspect.shapes import infer_shapes
from cnninspect.spec import ModelSpec, Overrides, apply_overrides, load_builtin, load_spec, parse_layers

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

app = typer.Typer(
    help="Shape and parameter inspector for convolutional networks: every layer's output size, "
    "filters and parameters, and every size mismatch with its fix — before you train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Engine(str, Enum):
    """How shapes are computed."""

    ANALYTIC = "analytic"
    TORCH = "torch"


SpecArg = Annotated[
    Optional[Path],
    typer.Argument(help="YAML spec file. Omitted: the built-in tutorial model (Example 1).", show_default=False),
]
LayersOpt = Annotated[
    Optional[str],
    typer.Option(
        "--layers",
        help='Layers in PyTorch call syntax, e.g. "Conv2d(3,16,3,stride=2) ReLU() Flatten() '
        'Linear(4096,10)". Parsed, never run.',
        show_default=False,
    ),
]
InputOpt = Annotated[
    Optional[str], typer.Option("--input", help="Input of one sample, C×H×W: 3x64x64.", show_default=False)
]
BatchOpt = Annotated[
    Optional[int], typer.Option("--batch", min=1, help="Batch size of the dummy input (default 1).", show_default=False)
]
KernelOpt = Annotated[
    Optional[int], typer.Option("--kernel", min=1, help="kernel_size of every conv layer.", show_default=False)
]
StrideOpt = Annotated[
    Optional[int], typer.Option("--stride", min=1, help="stride of every conv layer.", show_default=False)
]
PaddingOpt = Annotated[
    Optional[str],
    typer.Option("--padding", help="padding of every conv layer: an integer, same or valid.", show_default=False),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        help="Change one argument of one layer: LAYER.FIELD=VALUE (repeatable), e.g. --set fc.in_features=1568.",
        show_default=False,
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an internal error.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnninspect {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Shape and parameter inspector for convolutional networks."""


@app.command()
def summary(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    input: InputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="torch builds the real layers (on the meta device when "
            "large); analytic uses PyTorch's formulas without importing torch.",
        ),
    ] = Engine.TORCH,
    output_format: Annotated[
        SummaryFormat,
        typer.Option(
            "--format", help="table for people; json, markdown or csv for tools (on stdout, findings on stderr)."
        ),
    ] = SummaryFormat.TABLE,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each layer's size and parameter formula with its numbers filled in.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Trace a model layer by layer: output sizes, filters, parameters and size mismatches.

    Exit 0 when every layer fits, 1 when a size mismatch was found, 2 for invalid input.
    """
    with _guard(debug):
        overrides = Overrides(input, batch, kernel, stride, padding, tuple(set_ or ()))
        model = _load(spec, layers, overrides)
        trace = infer_shapes(model) if engine is Engine.ANALYTIC else _trace_torch(model)
        findings = find_problems(trace)
        if output_format is SummaryFormat.TABLE:
            print_table(Console(highlight=False), trace, findings, explain)
        else:
            sys.stdout.write(MACHINE_RENDERERS[output_format](trace, findings, explain))
            for finding in findings:
                typer.echo(finding.line, err=True)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


def _trace_torch(model: ModelSpec) -> Trace:
    from cnninspect.trace import trace_spec  # torch is imported only where a trace runs

    return trace_spec(model)


def _load(path: Path | None, layers: str | None, overrides: Overrides) -> ModelSpec:
    if path is not None and layers is not None:
        raise UsageError("give a SPEC file or --layers, not both")
    if layers is not None:
        model = parse_layers(layers)
    elif path is not None:
        model = load_spec(path)
    else:
        model = load_builtin()
    return apply_overrides(model, overrides)


@contextmanager
def _guard(debug: bool) -> Iterator[None]:
    """A user's mistake becomes one line and exit 2; so does a bug, unless --debug."""
    try:
        yield
    except CnnInspectError as error:
        _fail(str(error))
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:
        if debug:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)")


def _fail(message: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"cnninspect: error: {escape(message)}", style=None)
    raise typer.Exit(EXIT_ERROR)


def run() -> None:
    """Console-script entry point."""
    app()
