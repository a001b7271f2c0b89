"""Typer commands: parse → call the core → render → exit code. The only module that prints or exits."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cnninspect import __version__
from cnninspect.errors import CnnInspectError, UsageError
from cnninspect.findings import find_problems, has_errors
from cnninspect.fixes import FixPlan, changed_args, edit_source, encode_like, plan_fixes, unified_diff, write_atomic
from cnninspect.records import Trace
from cnninspect.report import MACHINE_RENDERERS, SummaryFormat, print_table
from cnninspect.shapes import infer_shapes
from cnninspect.spec import (
    BUILTIN_LABEL,
    FLAG_LABEL,
    ModelSpec,
    Overrides,
    apply_overrides,
    builtin_text,
    decode_source,
    parse_layers,
    parse_yaml,
    read_source,
)

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

    AUTO = "auto"
    """analytic when it knows every layer, else torch."""
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
ENGINE_HELP = (
    "torch builds the real layers (on the meta device when large); analytic uses PyTorch's formulas "
    "without importing torch; auto is analytic unless a layer needs torch."
)


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
    engine: Annotated[Engine, typer.Option("--engine", help=ENGINE_HELP)] = Engine.TORCH,
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
        trace = _tracer(engine, model)(model)
        findings = find_problems(trace)
        if output_format is SummaryFormat.TABLE:
            print_table(Console(highlight=False), trace, findings, explain)
        else:
            sys.stdout.write(MACHINE_RENDERERS[output_format](trace, findings, explain))
            for finding in findings:
                typer.echo(finding.line, err=True)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


@app.command("fix-fc")
def fix_fc(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    input: InputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print a unified diff of the spec (on stdout; the fixes go to stderr).")
    ] = False,
    write: Annotated[
        bool,
        typer.Option(
            "--write", help="Apply the fixes, and any what-if overrides, to the spec file; only those values change."
        ),
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the file would change (for CI).")] = (
        False
    ),
    engine: Annotated[Engine, typer.Option("--engine", help=ENGINE_HELP)] = Engine.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Find the in_features, in_channels and num_features every layer needs, with the arithmetic,
    and write them back without touching anything else.

    Exit 0 when nothing needs fixing (or --write fixed everything), 1 when something does
    (with --check: when the file would change), 2 for invalid input.
    """
    with _guard(debug):
        if write and check:
            raise UsageError("--write and --check: give one of them")
        source = _source(spec, layers)
        if write and source.path is None:
            raise UsageError(f"{source.spec.source} has no file to write; --diff shows the change")
        overrides = Overrides(input, batch, kernel, stride, padding, tuple(set_ or ()))
        model = apply_overrides(source.spec, overrides)
        plan = plan_fixes(model, _tracer(engine, model))
        edited = edit_source(source.text, source.spec, plan.fixed) if _changes(source.spec, plan.fixed) else source.text
        out = typer.echo if not diff else partial(typer.echo, err=True)
        for fix in plan.applied:
            out(f"{fix.layer.where(fix.arg)}: {fix.text}")
        for finding in plan.remaining:
            out(finding.line)
            if hint := plan.hint(finding):
                out(f"  {hint}")
        if diff:
            sys.stdout.write(unified_diff(source.text, edited, model.source))
        if source.path is None and source.spec.source == FLAG_LABEL and edited != source.text:
            out(f"--layers {shlex.quote(edited)}")
        changed = edited != source.text
        if write and changed:
            assert source.path is not None
            write_atomic(source.path, encode_like(source.raw, edited), source.raw)
        typer.echo(_fix_summary(plan, changed, write, source.spec, source.path), err=True)
    if check:
        raise typer.Exit(EXIT_FINDINGS if changed else EXIT_CLEAN)
    if write:
        raise typer.Exit(EXIT_FINDINGS if plan.remaining else EXIT_CLEAN)
    raise typer.Exit(EXIT_CLEAN if plan.clean else EXIT_FINDINGS)


def _changes(before: ModelSpec, after: ModelSpec) -> bool:
    return before.input != after.input or any(changed_args(a, b) for a, b in zip(before.layers, after.layers))


def _fix_summary(plan: FixPlan, changed: bool, written: bool, source: ModelSpec, path: Path | None) -> str:
    lines = [f"{name}: in_features is left out, so it is inferred ({n}); nothing to fix" for name, n in plan.inferred]
    count, left = len(plan.applied), len(plan.remaining)
    by_hand = f"{left} problem{'s' * (left != 1)} to fix by hand" if left else ""
    if plan.clean:
        lines.append("nothing to fix: every layer fits")
    elif not count:
        lines.append(by_hand)
    else:
        done = f"fixed {count} problem{'s' * (count != 1)}" if written else f"{count} fix{'es' * (count != 1)} needed"
        lines.append("; ".join(filter(None, (done, by_hand))))
    if written and changed:
        lines.append(f"wrote {path}")
    elif changed and path is not None:
        lines.append("--diff shows the change; --write makes it")
    elif changed and source.source == BUILTIN_LABEL:
        lines.append("--diff shows the change (the built-in model has no file to write)")
    return "\n".join(lines)


def _tracer(engine: Engine, model: ModelSpec) -> Callable[[ModelSpec], Trace]:
    if engine is Engine.ANALYTIC or (engine is Engine.AUTO and not model.needs_torch):
        return infer_shapes
    from cnninspect.trace import trace_spec  # torch is imported only where a trace runs

    return trace_spec


@dataclass(frozen=True)
class _Source:
    spec: ModelSpec
    """As written, before overrides."""
    text: str
    """The text it was read from."""
    path: Path | None = None
    """The file, when there is one to write."""
    raw: bytes = b""
    """The file's bytes as read."""


def _source(path: Path | None, layers: str | None) -> _Source:
    if path is not None and layers is not None:
        raise UsageError("give a SPEC file or --layers, not both")
    if layers is not None:
        return _Source(parse_layers(layers), layers)
    if path is not None:
        raw = read_source(path)
        text = decode_source(raw, str(path))
        return _Source(parse_yaml(text, str(path)), text, path, raw)
    text = builtin_text()
    return _Source(parse_yaml(text, BUILTIN_LABEL), text)


def _load(path: Path | None, layers: str | None, overrides: Overrides) -> ModelSpec:
    return apply_overrides(_source(path, layers).spec, overrides)


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
