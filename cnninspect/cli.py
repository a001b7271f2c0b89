"""Typer commands: parse → call the core → render → exit code. The only module that prints or exits."""

from __future__ import annotations

import json
import os
import shlex
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from cnninspect import __version__
from cnninspect.config import Settings, load_settings, rule_by_key
from cnninspect.errors import CnnInspectError, UsageError
from cnninspect.export import export_pytorch
from cnninspect.findings import RULES, Severity, find_problems, has_errors
from cnninspect.fixes import (
    FixPlan,
    encode_like,
    plan_fixes,
    python_changes,
    spec_change,
    unified_diff,
    with_suggestions,
    write_atomic,
)
from cnninspect.linter import FileResult, discover, lint_file
from cnninspect.records import Trace
from cnninspect.report import (
    LINT_RENDERERS,
    MACHINE_RENDERERS,
    LintFormat,
    SizesFormat,
    SummaryFormat,
    choose_columns,
    lint_summary,
    print_lint_full,
    print_sizes,
    print_table,
    render_sizes_json,
)
from cnninspect.schema import spec_schema
from cnninspect.sizes import input_sizes, parse_range
from cnninspect.spec import (
    BUILTIN_LABEL,
    FLAG_LABEL,
    ModelSpec,
    Overrides,
    apply_overrides,
    load_source,
)
from cnninspect.trace import Engine, trace_with

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PROGRESS_MIN_FILES = 20
"""lint shows a progress bar on a terminal from this many files."""

app = typer.Typer(
    help="Shape and parameter inspector for convolutional networks: every layer's output size, "
    "filters and parameters, and every size mismatch with its fix — before you train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class ExportTarget(StrEnum):
    """What ``export`` writes."""

    PYTORCH = "pytorch"


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
    Optional[list[str]],
    typer.Option(
        "--input",
        help="Input of one sample, C×H×W: 3x64x64 (with --model: repeat for more inputs).",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="Your own nn.Module: path/to/file.py:NAME or package.module:NAME, a class, factory function or "
        "instance. THIS IMPORTS AND RUNS YOUR CODE. Needs --input.",
        show_default=False,
    ),
]
ArgOpt = Annotated[
    Optional[list[str]],
    typer.Option("--arg", help="A constructor argument for --model: KEY=VALUE (repeatable).", show_default=False),
]
DtypeOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--dtype",
        help="--model input dtype, e.g. int64 for token ids (one for all, or one per --input).",
        show_default=False,
    ),
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
    columns: Annotated[
        Optional[str],
        typer.Option(
            "--columns",
            help="Table columns, comma-separated: index, layer, type, filters, stride, output, params, mult-adds, "
            "memory, rf, volume, notes; '+rf,+volume' adds to the defaults; 'all'.",
            show_default=False,
        ),
    ] = None,
    save: Annotated[
        Optional[Path],
        typer.Option("--save", help="Also save the rendered table as an .svg or .html picture.", show_default=False),
    ] = None,
    model: ModelOpt = None,
    arg: ArgOpt = None,
    dtype: DtypeOpt = None,
    depth: Annotated[
        Optional[int],
        typer.Option(
            "--depth",
            min=1,
            help="--model: show modules down to this depth as a tree (default: leaf modules).",
            show_default=False,
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Trace a model layer by layer: output sizes, filters, parameters and size mismatches.

    Exit 0 when every layer fits, 1 when a size mismatch was found, 2 for invalid input.
    """
    with _guard(debug):
        overrides = _overrides(input, batch, kernel, stride, padding, set_, model)
        if model is not None:
            trace = _model_trace(model, arg, input, dtype, batch, depth, spec, layers, overrides)
            findings = with_suggestions(find_problems(trace), trace)
        else:
            trace = trace_with(_load(spec, layers, overrides), engine)
            findings = find_problems(trace)
        chosen = choose_columns(columns)
        if save is not None and save.suffix.lower() not in SAVE_SUFFIXES:
            raise UsageError(f"--save {save}: give a file ending in .svg or .html")
        if save is not None and output_format is not SummaryFormat.TABLE:
            raise UsageError("--save keeps the rendered table: use it with --format table")
        if output_format is SummaryFormat.TABLE:
            console = Console(highlight=False, record=save is not None)
            print_table(console, trace, findings, explain, chosen)
            if save is not None:
                _save(console, save)
        else:
            sys.stdout.write(MACHINE_RENDERERS[output_format](trace, findings, explain, chosen))
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
    model: ModelOpt = None,
    arg: ArgOpt = None,
    dtype: DtypeOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Find the in_features, in_channels and num_features every layer needs, with the arithmetic,
    and write them back without touching anything else (with --model: in your .py source).

    Exit 0 when nothing needs fixing (or --write fixed everything), 1 when something does
    (with --check: when the file would change), 2 for invalid input.
    """
    with _guard(debug):
        if write and check:
            raise UsageError("--write and --check: give one of them")
        overrides = _overrides(input, batch, kernel, stride, padding, set_, model)
        if model is not None:
            trace = _model_trace(model, arg, input, dtype, batch, None, spec, layers, overrides)
            plan, files, notes = python_changes(trace)
        else:
            source = load_source(spec, layers)
            if write and source.path is None:
                raise UsageError(f"{source.spec.source} has no file to write; --diff shows the change")
            plan = plan_fixes(apply_overrides(source.spec, overrides), partial(trace_with, engine=engine))
            files = [spec_change(source, plan.fixed)]
            notes = {}
        out = typer.echo if not diff else partial(typer.echo, err=True)
        for fix in plan.applied:
            out(f"{fix.layer.where(fix.arg)}: {fix.text}")
            if fix.layer.name in notes:
                out(f"  {notes[fix.layer.name]}")
        for finding in plan.remaining:
            out(finding.line)
            if hint := plan.hint(finding):
                out(f"  {hint}")
        changed = [f for f in files if f.after != f.before]
        for change in changed:
            if diff:
                sys.stdout.write(unified_diff(change.before, change.after, change.label))
            if change.label == FLAG_LABEL:
                out(f"--layers {shlex.quote(change.after)}")
        if write:
            for change in changed:
                assert change.path is not None
                write_atomic(change.path, encode_like(change.raw, change.after), change.raw)
        typer.echo(_fix_summary(plan, bool(changed), write, files[0].label, files[0].path), err=True)
    if check:
        raise typer.Exit(EXIT_FINDINGS if changed else EXIT_CLEAN)
    if write:
        raise typer.Exit(EXIT_FINDINGS if plan.remaining else EXIT_CLEAN)
    raise typer.Exit(EXIT_CLEAN if plan.clean else EXIT_FINDINGS)


SAVE_SUFFIXES = (".svg", ".html")


def _save(console: Console, path: Path) -> None:
    """The recorded table as a picture; the title names the model."""
    try:
        if path.suffix.lower() == ".svg":
            console.save_svg(str(path), title="cnninspect")
        else:
            console.save_html(str(path))
    except OSError as error:
        raise UsageError(f"--save {path}: cannot write: {error.strerror}") from None
    typer.echo(f"saved {path}", err=True)


def _overrides(
    inputs: list[str] | None,
    batch: int | None,
    kernel: int | None,
    stride: int | None,
    padding: str | None,
    sets: list[str] | None,
    model: str | None = None,
) -> Overrides:
    """The what-if options as one record; several --input belong to a --model only."""
    if model is None and inputs and len(inputs) > 1:
        raise UsageError("several --input are for --model with several inputs; a spec has one")
    return Overrides(inputs[0] if inputs and model is None else None, batch, kernel, stride, padding, tuple(sets or ()))


def _model_trace(
    model: str,
    arg: list[str] | None,
    inputs: list[str] | None,
    dtype: list[str] | None,
    batch: int | None,
    depth: int | None,
    spec: Path | None,
    layers: str | None,
    overrides: Overrides,
) -> Trace:
    from cnninspect.usermodel import inspect_model, parse_args, parse_target

    if spec is not None or layers is not None:
        raise UsageError("give a SPEC file, --layers or --model, not more than one")
    if overrides.kernel or overrides.stride or overrides.padding or overrides.sets:
        raise UsageError("--kernel, --stride, --padding and --set change specs; a --model takes --arg instead")
    return inspect_model(parse_target(model), parse_args(arg or ()), inputs or (), dtype or (), batch or 1, depth)


@app.command()
def lint(
    paths: Annotated[
        list[str],
        typer.Argument(help="Spec files, folders (walked for *.yaml and *.yml) and globs.", show_default=False),
    ],
    select: Annotated[
        Optional[list[str]],
        typer.Option(
            "--select",
            help="Report only these rules: codes, prefixes (CNN3) or names (repeatable).",
            show_default=False,
        ),
    ] = None,
    ignore: Annotated[
        Optional[list[str]],
        typer.Option(
            "--ignore", help="Never report these rules: codes, prefixes or names (repeatable).", show_default=False
        ),
    ] = None,
    fail_on: Annotated[
        Optional[Severity],
        typer.Option(
            "--fail-on", help="Lowest severity that makes the exit code 1 [default: error].", show_default=False
        ),
    ] = None,
    exit_zero: Annotated[
        bool, typer.Option("--exit-zero", help="Exit 0 even with findings (still 2 for usage or internal errors).")
    ] = False,
    output_format: Annotated[
        Optional[LintFormat],
        typer.Option(
            "--format",
            help="full (grouped, for people), concise (path:line:col: CODE message), json, github (workflow "
            "annotations; the default under GitHub Actions) or sarif.",
            show_default=False,
        ),
    ] = None,
    input: InputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    engine: Annotated[Engine, typer.Option("--engine", help=ENGINE_HELP)] = Engine.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Check spec files for CI and pre-commit: size mismatches, invalid specs and warnings.

    Quiet when clean. Settings come from [tool.cnninspect] in the nearest pyproject.toml;
    options win. Exit 0 when clean or only below --fail-on, 1 with findings at or above it,
    2 for usage or internal errors.
    """
    with _guard(debug):
        settings = load_settings(Path.cwd()).with_options(select, ignore, fail_on)
        fmt = output_format or (LintFormat.GITHUB if os.environ.get("GITHUB_ACTIONS") == "true" else LintFormat.FULL)
        overrides = _overrides(input, batch, kernel, stride, padding, set_)
        files = discover(paths, settings)
        results = _lint_all(files, settings, overrides, engine, fmt)
        if fmt is LintFormat.FULL:
            print_lint_full(Console(highlight=False), results)
        else:
            sys.stdout.write(LINT_RENDERERS[fmt](results))
        if summary_line := lint_summary(results):
            typer.echo(summary_line, err=True)
        failed = any(settings.fails(f) for r in results for f in r.findings)
    raise typer.Exit(EXIT_FINDINGS if failed and not exit_zero else EXIT_CLEAN)


def _lint_all(
    files: Sequence[Path], settings: Settings, overrides: Overrides, engine: Engine, fmt: LintFormat
) -> list[FileResult]:
    console = Console(stderr=True)
    if (
        len(files) < PROGRESS_MIN_FILES
        or not console.is_interactive
        or fmt not in (LintFormat.FULL, LintFormat.CONCISE)
    ):
        return [lint_file(path, settings, overrides, engine) for path in files]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("linting", total=len(files))
        results = []
        for path in files:
            results.append(lint_file(path, settings, overrides, engine))
            progress.advance(task)
        return results


@app.command()
def rules(
    rule: Annotated[
        Optional[str], typer.Argument(help="A code or name: show its explanation and examples.", show_default=False)
    ] = None,
) -> None:
    """List every finding code, or explain one with a failing and a passing spec."""
    console = Console(highlight=False)
    if rule is None:
        table = Table("Code", "Name", "Severity", "What it flags", box=None, pad_edge=False)
        for entry in RULES:
            table.add_row(entry.code, entry.name, entry.severity.value, Text(entry.summary))
        console.print(table)
        return
    with _guard(False):
        found = rule_by_key(rule)
        if found is None:
            raise UsageError(f"no rule {rule!r}; `cnninspect rules` lists the codes and names")
    console.print(Text(f"{found.code} {found.name} ({found.severity.value})", style="bold"))
    console.print(Text(found.summary))
    console.print()
    console.print(Text(found.explanation))
    for title, example in (("Failing", found.failing), ("Passing", found.passing)):
        console.print()
        options = f" (with {' '.join(example.options)})" if example.options else ""
        console.print(Text(f"{title}{options}:", style="bold"))
        console.print(Text("".join(f"    {line}\n" for line in example.spec.splitlines()).rstrip("\n")))


@app.command()
def sizes(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    input: InputOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    size_range: Annotated[
        str, typer.Option("--range", help="Square input sizes N to try, FROM:TO (both included).")
    ] = "16:512",
    output_format: Annotated[
        SizesFormat, typer.Option("--format", help="table for people, json for tools (every size listed).")
    ] = SizesFormat.TABLE,
    debug: DebugOpt = False,
) -> None:
    """Which input sizes the spec accepts: the smallest H and W, the sizes at which every layer
    keeps an output, each Linear's in_features fits, and no row or column is dropped.

    Uses the analytic engine only (no torch). Exit 0, or 2 for invalid input.
    """
    with _guard(debug):
        overrides = _overrides(input, None, kernel, stride, padding, set_)
        model = _load(spec, layers, overrides)
        if model.needs_torch:
            raise UsageError(f"{model.source}: sizes works from the analytic engine, which does not know every layer")
        report = input_sizes(model, *parse_range(size_range))
        if output_format is SizesFormat.JSON:
            sys.stdout.write(render_sizes_json(report))
        else:
            print_sizes(Console(highlight=False), report)


@app.command()
def export(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    input: InputOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    to: Annotated[ExportTarget, typer.Option("--to", help="What to write.")] = ExportTarget.PYTORCH,
    engine: Annotated[Engine, typer.Option("--engine", help=ENGINE_HELP)] = Engine.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Print the spec as a ready nn.Module class, in the style of the tutorial's Example 1.

    Inferred sizes are written out. Exit 0; 1 when the spec has a size error (the class is
    printed anyway, and would fail where the error is); 2 for invalid input.
    """
    with _guard(debug):
        overrides = _overrides(input, None, kernel, stride, padding, set_)
        trace = trace_with(_load(spec, layers, overrides), engine)
        findings = find_problems(trace)
        sys.stdout.write(export_pytorch(trace))
        for finding in findings:
            typer.echo(finding.line, err=True)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format, for editors (yaml-language-server) and validators."""
    sys.stdout.write(json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n")


def _fix_summary(plan: FixPlan, changed: bool, written: bool, label: str, path: Path | None) -> str:
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
    elif changed and label == BUILTIN_LABEL:
        lines.append("--diff shows the change (the built-in model has no file to write)")
    return "\n".join(lines)


def _load(path: Path | None, layers: str | None, overrides: Overrides) -> ModelSpec:
    return apply_overrides(load_source(path, layers).spec, overrides)


@contextmanager
def _guard(debug: bool) -> Iterator[None]:
    """A user's mistake becomes one line and exit 2; so does a bug, unless --debug."""
    try:
        yield
    except CnnInspectError as error:
        if debug and error.__cause__ is not None:  # the user's own code failed: show where
            traceback.print_exception(error.__cause__)
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
