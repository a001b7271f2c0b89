"""Typer commands: parse → call the core → render → exit code. The only module that prints or exits.

Exit codes: 0 clean, 1 error findings, 2 usage error, invalid input or internal error. Every
user mistake, a malformed option included, is one line ``cnninspect: error: …`` on stderr.
"""

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
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperArgument, TyperCommand, TyperGroup

from cnninspect import __version__
from cnninspect.checks import find_problems
from cnninspect.engines import Engine, trace_with
from cnninspect.engines.module import DEFAULT_TIMEOUT
from cnninspect.engines.records import Trace
from cnninspect.errors import CnnInspectError, EditError, Location, UsageError
from cnninspect.formats import summary as summary_formats
from cnninspect.formats.lint import LintFormat
from cnninspect.formats.sizes import SizesFormat
from cnninspect.formats.summary import SummaryFormat, SummaryReport, choose_columns
from cnninspect.rules import RULES, Finding, Severity, has_errors, select_rules

if TYPE_CHECKING:
    from cnninspect.config import Settings
    from cnninspect.fixes.plan import FixPlan
    from cnninspect.linter import FileResult
from cnninspect.inputs import load_source
from cnninspect.spec.model import BUILTIN_LABEL, FLAG_LABEL, ModelSpec
from cnninspect.spec.overrides import Overrides, apply_overrides
from cnninspect.spec.validate import parse_input
from cnninspect.text import plural, safe

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PROGRESS_MIN_FILES = 20
"""lint shows a progress bar on a terminal from this many files."""
SAVE_SUFFIXES = (".svg", ".html")
MIN_WIDTH = 20


class CnnInspectGroup(TyperGroup):
    """The command group, with usage errors as one line and exit code 2 (not Click's box)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.TyperException as error:  # Click's UsageError and its kin
            context = getattr(error, "ctx", None)
            where = context.command_path if context is not None else "cnninspect"
            message = error.format_message().rstrip(".")
            _stderr().print(f"cnninspect: error: {message}; `{where} --help` lists the options", markup=False)
            code = EXIT_ERROR
        except typer.Abort:
            code = EXIT_ERROR
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else EXIT_CLEAN)


class PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: ``PATH...``, not ``{PATH}... <list[str]>``."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        return self._rich_display_name() if self.required else f"[{self._rich_display_name()}]"


class CnnInspectCommand(TyperCommand):
    """A command whose arguments read like the values a user types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.__class__ = PlainArgument


app = typer.Typer(
    name="cnninspect",
    cls=CnnInspectGroup,
    help="Shape and parameter inspector for convolutional networks: every layer's output size, "
    "filters and parameters, and every size mismatch with its fix — before you train.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class ExportTarget(StrEnum):
    """What ``export`` writes."""

    PYTORCH = "pytorch"


class RulesFormat(StrEnum):
    """Output formats of ``rules``."""

    TABLE = "table"
    MARKDOWN = "markdown"


# Options: each one means the same thing, with the same metavar and default, on every command.
SpecArg = Annotated[
    Optional[Path],
    typer.Argument(
        metavar="SPEC", help="YAML spec file. Omitted: the built-in tutorial model (Example 1).", show_default=False
    ),
]
LayersOpt = Annotated[
    Optional[str],
    typer.Option(
        "--layers",
        metavar="LAYERS",
        help='Layers in PyTorch call syntax instead of a SPEC, e.g. "Conv2d(3,16,3,stride=2) ReLU() Flatten() '
        'Linear(4096,10)". Parsed, never run.',
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
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        metavar="FILE.py:NAME",
        help="Your own nn.Module instead of a SPEC: path/to/file.py:NAME or package.module:NAME (a class, "
        "factory function or instance). THIS IMPORTS AND RUNS YOUR CODE. Needs --input.",
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
        f"[default: {DEFAULT_TIMEOUT:g}].",
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
    Engine,
    typer.Option(
        "--engine",
        help=f"{ENGINE_HELP} summary defaults to torch: its table shows what PyTorch itself computes, "
        "at the cost of importing torch.",
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


@app.callback()
def main(
    context: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Shape and parameter inspector for convolutional networks."""
    if version:
        typer.echo(f"cnninspect {__version__}")
        raise typer.Exit()
    if context.invoked_subcommand is None:
        typer.echo(context.get_help())
        raise typer.Exit()


@app.command(cls=CnnInspectCommand)
def summary(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    model: ModelOpt = None,
    input: ModelInputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    dtype: DtypeOpt = None,
    timeout: TimeoutOpt = None,
    depth: DepthOpt = None,
    engine: SummaryEngineOpt = Engine.TORCH,
    output_format: Annotated[
        SummaryFormat,
        typer.Option(
            "--format",
            help="table for people; json, markdown or csv for tools (on stdout alone, finding lines on stderr).",
        ),
    ] = SummaryFormat.TABLE,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each layer's size and parameter formula with its numbers filled in.")
    ] = False,
    columns: Annotated[
        Optional[str],
        typer.Option(
            "--columns",
            metavar="KEYS",
            help="Table columns, comma-separated: index, layer, type, filters, stride, output, params, mult-adds, "
            "memory, rf, volume, notes; '+rf,+volume' adds to the defaults; 'all'. Without it the table drops "
            "columns that do not fit the terminal.",
            show_default=False,
        ),
    ] = None,
    save: Annotated[
        Optional[Path],
        typer.Option(
            "--save",
            metavar="FILE",
            help="Also save the rendered table as an .svg or .html picture.",
            show_default=False,
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Trace a model layer by layer: output sizes, filters, parameters and size mismatches.

    Exit 0 when every layer fits, 1 when a size mismatch was found, 2 for invalid input.
    """
    with _guard(debug):
        if save is not None and save.suffix.lower() not in SAVE_SUFFIXES:
            raise UsageError(f"--save {save}: give a file ending in .svg or .html")
        if save is not None and output_format is not SummaryFormat.TABLE:
            raise UsageError("--save keeps the rendered table: use it with --format table")
        trace, findings = _trace(
            spec, layers, model, input, batch, kernel, stride, padding, set_, arg, dtype, timeout, depth, engine
        )
        console = _stdout(record=save is not None)
        report = SummaryReport(
            trace,
            findings,
            choose_columns(columns),
            explain,
            console.width,
            columns is None,
            depth if model is None else None,
        )
        _emit(console, summary_formats.RENDERERS[output_format](report))
        if output_format is not SummaryFormat.TABLE:
            _echo_findings(findings)
        if save is not None:
            _save(console, save)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


@app.command("fix-fc", cls=CnnInspectCommand)
def fix_fc(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    model: ModelOpt = None,
    input: ModelInputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    dtype: DtypeOpt = None,
    timeout: TimeoutOpt = None,
    engine: EngineOpt = Engine.AUTO,
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
    debug: DebugOpt = False,
) -> None:
    """Find the in_features, in_channels and num_features every layer needs, with the arithmetic,
    and write them back without touching anything else (with --model: in your .py source).

    Exit 0 when nothing needs fixing (or --write fixed everything), 1 when something does
    (with --check: when the file would change), 2 for invalid input.
    """
    from cnninspect.fixes.files import encode_like, spec_change, unified_diff, write_atomic
    from cnninspect.fixes.plan import plan_fixes
    from cnninspect.fixes.python import python_changes

    with _guard(debug):
        if write and check:
            raise UsageError("--write and --check: give one of them")
        if model is not None:
            trace, _ = _trace(
                spec, layers, model, input, batch, kernel, stride, padding, set_, arg, dtype, timeout, None, engine
            )
            target = model.rpartition(":")[0]
            project = [Path.cwd(), *([Path(target).parent] if target.endswith(".py") else [])]
            plan, files, notes = python_changes(trace, project)
        else:
            _model_only(arg, dtype, timeout)
            overrides = _overrides(_one_input(input), batch, kernel, stride, padding, set_)
            source = load_source(spec, layers)
            if write and source.path is None:
                raise UsageError(f"{source.spec.source} has no file to write; --diff shows the change")
            plan = plan_fixes(apply_overrides(source.spec, overrides), partial(trace_with, engine=engine))
            files = [spec_change(source, plan.fixed)]
            notes = {}

        def out(text: str) -> None:
            typer.echo(safe(text), err=diff)

        for fix, fixed in plan.edits:
            shared = f"; written once for {len(fixed)} layers: {', '.join(fixed)}" if len(fixed) > 1 else ""
            out(f"{fix.layer.where(fix.arg)}: {fix.text}{shared}")
            if fix.layer.name in notes:
                out(f"  {notes[fix.layer.name]}")
        hints: set[str] = set()
        for finding in plan.remaining:
            out(finding.line)
            hint = plan.hint(finding)
            if hint and hint not in hints:  # a value written once for many layers is explained once
                hints.add(hint)
                out(f"  {hint}")
        changed = [f for f in files if f.after != f.before]
        for change in changed:
            if diff:
                sys.stdout.write(unified_diff(change.before, change.after, safe(change.label)))
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


@app.command(cls=CnnInspectCommand)
def lint(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH",
            help="Spec files, folders (walked for *.yaml and *.yml) and globs. YAML files without a top-level "
            "layers: key are not specs and are skipped.",
            show_default=False,
        ),
    ],
    select: Annotated[
        Optional[list[str]],
        typer.Option(
            "--select",
            metavar="RULE",
            help="Report only these rules: codes, prefixes (CNN3) or names (repeatable).",
            show_default=False,
        ),
    ] = None,
    ignore: Annotated[
        Optional[list[str]],
        typer.Option(
            "--ignore",
            metavar="RULE",
            help="Never report these rules: codes, prefixes or names (repeatable).",
            show_default=False,
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
    force_exclude: Annotated[
        bool,
        typer.Option(
            "--force-exclude",
            help="Apply [tool.cnninspect] exclude to files named on the command line too (as pre-commit names them).",
        ),
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
    engine: EngineOpt = Engine.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Check spec files for CI and pre-commit: size mismatches, invalid specs and warnings.

    Quiet when clean. Settings come from [tool.cnninspect] in the nearest pyproject.toml;
    options win. Exit 0 when clean or only below --fail-on, 1 with findings at or above it,
    2 for usage or internal errors.
    """
    from cnninspect.config import load_settings
    from cnninspect.discovery import discover
    from cnninspect.formats import lint as lint_formats

    with _guard(debug):
        settings = load_settings(Path.cwd()).with_options(select, ignore, fail_on, force_exclude or None)
        fmt = output_format or (LintFormat.GITHUB if os.environ.get("GITHUB_ACTIONS") == "true" else LintFormat.FULL)
        overrides = _overrides(input, batch, kernel, stride, padding, set_)
        found = discover(paths, settings)
        checked = found.problems + _lint_all(found.files, settings, overrides, engine, fmt)
        results = [r for r in checked if r.is_spec]
        skipped = [r for r in checked if not r.is_spec]
        _emit(_stdout(), lint_formats.RENDERERS[fmt](results))
        if skipped:
            typer.echo(
                f"skipped {plural(len(skipped), 'file')} that "
                f"{'is not a model spec' if len(skipped) == 1 else 'are not model specs'} "
                "(no layers:, no torch.nn _target_, no [net])",
                err=True,
            )
        if summary_line := lint_formats.lint_summary(results):
            typer.echo(summary_line, err=True)
        failed = any(settings.fails(f) for r in results for f in r.findings)
    raise typer.Exit(EXIT_FINDINGS if failed and not exit_zero else EXIT_CLEAN)


def _lint_all(
    files: Sequence[Path], settings: Settings, overrides: Overrides, engine: Engine, fmt: LintFormat
) -> list[FileResult]:
    from rich.progress import Progress

    from cnninspect.linter import lint_file

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


@app.command(cls=CnnInspectCommand)
def rules(
    key: Annotated[
        Optional[str],
        typer.Argument(
            metavar="RULE",
            help="A code or name explains that rule; a prefix (CNN2) lists those rules.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        RulesFormat, typer.Option("--format", help="table, or markdown (the page docs/rules.md is generated with).")
    ] = RulesFormat.TABLE,
) -> None:
    """List every finding code, or explain one with a failing and a passing spec.

    Exit 0, or 2 when RULE names no rule.
    """
    from cnninspect.formats import rules as rules_formats

    with _guard(False):
        if output_format is RulesFormat.MARKDOWN:
            if key is not None:
                raise UsageError("--format markdown writes the whole page; give no RULE")
            sys.stdout.write(rules_formats.rules_markdown())
            return
        chosen = list(RULES) if key is None else select_rules([key], "rules")
        exact = [rule for rule in chosen if key is not None and key.upper() in (rule.code, rule.name.upper())]
        rendered = rules_formats.render_rule(exact[0]) if exact else rules_formats.render_list(chosen)
        _emit(_stdout(), rendered)


@app.command(cls=CnnInspectCommand)
def sizes(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    input: InputOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    size_range: Annotated[
        str, typer.Option("--range", metavar="FROM:TO", help="Square input sizes N to try, both included.")
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
    from cnninspect.formats import sizes as sizes_formats
    from cnninspect.input_sizes import input_sizes, parse_range

    with _guard(debug):
        model = _load(spec, layers, _overrides(input, None, kernel, stride, padding, set_))
        if model.needs_torch:
            raise UsageError(f"{model.source}: sizes works from the analytic engine, which does not know every layer")
        report = input_sizes(model, *parse_range(size_range))
        _emit(_stdout(), sizes_formats.RENDERERS[output_format](report))


@app.command(cls=CnnInspectCommand)
def export(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    input: InputOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    to: Annotated[ExportTarget, typer.Option("--to", help="What to write.")] = ExportTarget.PYTORCH,
    engine: EngineOpt = Engine.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Print the spec as a ready nn.Module class, in the style of the tutorial's Example 1.

    Inferred sizes are written out. Exit 0; 1 when the spec has a size error (the class is
    printed anyway, and would fail where the error is); 2 for invalid input.
    """
    from cnninspect.export import export_pytorch

    with _guard(debug):
        trace = trace_with(_load(spec, layers, _overrides(input, None, kernel, stride, padding, set_)), engine)
        findings = find_problems(trace)
        sys.stdout.write(export_pytorch(trace))
        _echo_findings(findings)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


@app.command(cls=CnnInspectCommand)
def schema(
    spec: Annotated[
        Optional[Path],
        typer.Argument(
            metavar="SPEC",
            help="A spec file: the schema then also knows its own names and blocks, so every from: may "
            "name only the layers above it and each block takes exactly its parameters.",
            show_default=False,
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Print the JSON Schema of the spec format, for editors (yaml-language-server) and validators.

    Exit 0, or 2 when SPEC cannot be read.
    """
    from cnninspect.inputs import decode_source, format_for, read_source
    from cnninspect.spec.schema import spec_schema
    from cnninspect.spec.yamldoc import read_document

    with _guard(debug):
        document = None
        if spec is not None:
            text = decode_source(read_source(spec), str(spec))
            fmt = format_for(text, str(spec))
            if not fmt.has_schema:
                raise UsageError(f"{spec} is a {fmt.title}; the schema describes cnninspect's YAML specs")
            document = read_document(text, str(spec))
        sys.stdout.write(json.dumps(spec_schema(document), indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------
# Helpers


def _trace(
    spec: Path | None,
    layers: str | None,
    model: str | None,
    inputs: list[str] | None,
    batch: int | None,
    kernel: int | None,
    stride: int | None,
    padding: str | None,
    sets: list[str] | None,
    arg: list[str] | None,
    dtype: list[str] | None,
    timeout: float | None,
    depth: int | None,
    engine: Engine,
) -> tuple[Trace, list[Finding]]:
    """The trace and findings of a SPEC, ``--layers`` or ``--model``, with the what-if options."""
    if model is None:
        _model_only(arg, dtype, timeout)
        overrides = _overrides(_one_input(inputs), batch, kernel, stride, padding, sets)
        trace = trace_with(_load(spec, layers, overrides), engine)
        return trace, find_problems(trace)
    from cnninspect.engines.module import inspect_model, parse_args, parse_target
    from cnninspect.fixes.python import with_suggestions

    if spec is not None or layers is not None:
        raise UsageError("give a SPEC file, --layers or --model, not more than one")
    if kernel or stride or padding or sets:
        raise UsageError("--kernel, --stride, --padding and --set change specs; a --model takes --arg instead")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"--timeout {timeout:g}: give a number of seconds above 0")
    trace = inspect_model(
        parse_target(model),
        parse_args(arg or ()),
        inputs or (),
        dtype or (),
        batch or 1,
        depth,
        DEFAULT_TIMEOUT if timeout is None else timeout,
    )
    return trace, with_suggestions(find_problems(trace), trace)


def _model_only(arg: list[str] | None, dtype: list[str] | None, timeout: float | None) -> None:
    """--arg, --dtype and --timeout say something about a --model only; alone they are a mistake."""
    given = [name for name, value in (("--arg", arg), ("--dtype", dtype), ("--timeout", timeout is not None)) if value]
    if given:
        raise UsageError(
            f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --model; this run has no --model"
        )


def _one_input(inputs: list[str] | None) -> str | None:
    if inputs and len(inputs) > 1:
        raise UsageError("several --input are for a --model with several inputs; a spec has one")
    return inputs[0] if inputs else None


def _overrides(
    input: str | None,
    batch: int | None,
    kernel: int | None,
    stride: int | None,
    padding: str | None,
    sets: list[str] | None,
) -> Overrides:
    """The what-if options; --input is checked at once, before any file is read."""
    if input is not None:
        parse_input(input, Location("--input", 1, 1))
    return Overrides(input, batch, kernel, stride, padding, tuple(sets or ()))


def _load(path: Path | None, layers: str | None, overrides: Overrides) -> ModelSpec:
    return apply_overrides(load_source(path, layers).spec, overrides)


def _fix_summary(plan: FixPlan, changed: bool, written: bool, label: str, path: Path | None) -> str:
    lines = [f"{name}: in_features is left out, so it is inferred ({n}); nothing to fix" for name, n in plan.inferred]
    count, left = len(plan.edits), len(plan.remaining)
    by_hand = f"{left} problem{'s' * (left != 1)} to fix by hand" if left else ""
    if plan.clean:
        lines.append("nothing to fix: every layer fits" + ("; the what-if options change the file" if changed else ""))
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


def _stdout(record: bool = False) -> Console:
    return Console(highlight=False, soft_wrap=True, record=record, width=_width())


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, width=_width())


def _width() -> int:
    """The terminal's width; an odd one (``COLUMNS=0``) reads as 80, so output is never lost."""
    width = Console().width
    return width if width >= MIN_WIDTH else 80


def _emit(console: Console, rendered: str | Text) -> None:
    """Machine formats go to stdout untouched; Rich text through the console (colour, NO_COLOR)."""
    if isinstance(rendered, str):
        sys.stdout.write(rendered)
    else:
        console.print(rendered, end="")


def _echo_findings(findings: Sequence[Finding]) -> None:
    for finding in findings:
        typer.echo(safe(finding.line), err=True)


def _save(console: Console, path: Path) -> None:
    """The recorded table as a picture, written atomically (a full disk leaves the old file)."""
    from cnninspect.fixes.files import write_atomic

    picture = console.export_svg(title="cnninspect") if path.suffix.lower() == ".svg" else console.export_html()
    try:
        write_atomic(path, picture.encode("utf-8"), None)
    except EditError as error:
        raise UsageError(f"--save {error.message}") from None
    typer.echo(f"saved {safe(str(path))}", err=True)


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
    except BrokenPipeError:  # `cnninspect … | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_CLEAN) from None
    except Exception as error:
        if debug:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)")


def _fail(message: str) -> NoReturn:
    _stderr().print(Text(f"cnninspect: error: {safe(message)}"))
    raise typer.Exit(EXIT_ERROR)


def run() -> None:
    """Console-script entry point. Once torch is loaded, the process ends without the interpreter's
    teardown of torch's modules (half a second or more, measured in bench/): the output is flushed
    first and cnninspect registers no exit handlers of its own."""
    try:
        app()
        code: int | str | None = EXIT_CLEAN
    except SystemExit as exit:
        code = exit.code
    if "torch" not in sys.modules:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code if isinstance(code, int) else EXIT_ERROR if code else EXIT_CLEAN)
