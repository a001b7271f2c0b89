"""Typer commands: parse → call the core → render → exit code. The only module that prints or exits.

Exit codes: 0 clean, 1 error findings, 2 usage error, invalid input or internal error. Every
user mistake, a malformed option included, is one line ``cnninspect: error: …`` on stderr.

Each command imports what it needs when it runs: ``--help`` and ``rules`` load neither an engine,
the checks nor torch (a test lists the modules ``--help`` imports).

No ``from __future__ import annotations`` here: Typer reads every command's annotations on every
run, and written as strings each one is compiled again (about 7 ms of each command's start).
Annotations naming what is imported only for type checking are quoted.
"""

import errno
import gc
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TextIO

import typer
from typer.core import TyperGroup

from cnninspect import __version__
from cnninspect.cli_options import (
    MODEL_TIMEOUT,
    SPEC_FORMATS,
    SPEC_SUFFIXES,
    ArgOpt,
    BatchOpt,
    CnnInspectCommand,
    DebugOpt,
    DepthOpt,
    DtypeOpt,
    EngineOpt,
    ExportTarget,
    InputOpt,
    KernelOpt,
    LayersOpt,
    ModelInputOpt,
    ModelOpt,
    ModelOptions,
    ModelSource,
    ModeOpt,
    OverrideOpt,
    PaddingOpt,
    ScaleOpt,
    SetOpt,
    SpecArg,
    StrideOpt,
    SummaryEngineOpt,
    TimeoutOpt,
    WhatIf,
    either,
    listing,
)
from cnninspect.engines import TORCH_INSTALL, Engine, torch_installed
from cnninspect.errors import CnnInspectError, EditError, UsageError
from cnninspect.formats.choices import LintFormat, RulesFormat, SizesFormat, SummaryFormat
from cnninspect.severity import Severity
from cnninspect.text import article, did_you_mean, safe

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from cnninspect.config import Settings
    from cnninspect.engines.records import Trace
    from cnninspect.linter import FileResult
    from cnninspect.rules import Finding
    from cnninspect.spec.model import ModelSpec
    from cnninspect.spec.overrides import Overrides

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PROGRESS_MIN_FILES = 20
"""lint shows a progress bar on a terminal from this many files."""
RICH_TERMINAL_VARIABLES = ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_TERMINAL", "FORCE_COLOR")
"""Variables that make Rich treat a stream as an interactive terminal when it is not a TTY."""
SAVE_SUFFIXES = (".svg", ".html")
GC_THRESHOLDS = (50_000, 20, 20)
"""The collector's thresholds for one command: a 200,000-layer spec keeps millions of objects alive,
and Python's defaults (700, 10, 10) walked them so often that the time grew faster than the layers
(a third of `summary`'s time at 200,000 layers; bench/scale.py)."""
MIN_WIDTH = 20
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""Errors writing the output that are the disk's, not cnninspect's (a file being read is a finding)."""


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
            code = super().main(
                args, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
        except typer.TyperException as error:  # Click's UsageError and its kin
            context = getattr(error, "ctx", None)
            where = context.command_path if context is not None else "cnninspect"
            message = _usage_message(error).rstrip(".")
            joint = " " if message.endswith("?") else "; "
            listed = "commands" if message.startswith("No such command") else "options"
            _stderr().print(f"cnninspect: error: {message}{joint}`{where} --help` lists the {listed}", markup=False)
            code = EXIT_ERROR
        except typer.Abort:
            code = EXIT_ERROR
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else EXIT_CLEAN)


def _usage_message(error: typer.TyperException) -> str:
    """Click's message for a usage error, with a bad option value said in our words, never the
    validation library's ("Value error, …", "Input should be …")."""
    param = getattr(error, "param", None)
    cause = error.__cause__
    problems = getattr(cause, "errors", None)
    if not isinstance(error, typer.BadParameter) or param is None or not callable(problems):
        return error.format_message()
    first = problems()[0]
    value, kind, context = first.get("input"), first.get("type"), first.get("ctx") or {}
    choice = CHOICE_ERROR.fullmatch(str(context.get("error", "")))
    if choice:
        choices = [c.strip("'") for c in choice.group(1).split(", ")]
        why = f"{safe(repr(value))} is not one of {', '.join(choices)}{did_you_mean(str(value).lower(), choices)}"
    elif kind == "int_parsing":
        why = f"{safe(repr(value))} is not a whole number"
    elif kind == "float_parsing":
        why = f"{safe(repr(value))} is not a number"
    elif kind in BOUNDS:
        limit = next(iter(context.values()), "")
        why = f"must be {BOUNDS[kind]} {limit}, not {safe(str(value))}"
    else:  # any other check: its words, said of the value
        said = str(first.get("msg", error.message)).removeprefix("Value error, ")
        why = f"{safe(repr(value))}: {said[0].lower()}{said[1:]}" if said.startswith("Input ") else said
    name = param.opts[0] if getattr(param, "opts", None) else param.human_readable_name
    return f"Invalid value for {name!r}: {why}"


CHOICE_ERROR = re.compile(r"'.*' is not one of (.*)\.")
BOUNDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
}
"""A number outside its option's range, in words."""


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
    scale: ScaleOpt = None,
    model: ModelOpt = None,
    input: ModelInputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    override: OverrideOpt = None,
    dtype: DtypeOpt = None,
    timeout: TimeoutOpt = None,
    mode: ModeOpt = None,
    depth: DepthOpt = None,
    engine: SummaryEngineOpt = None,
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
    from cnninspect.formats.summary import RENDERERS, SummaryReport, choose_columns
    from cnninspect.rules import has_errors

    with _guard(debug=debug):
        if save is not None and save.suffix.lower() not in SAVE_SUFFIXES:
            raise UsageError(f"--save {save}: give a file ending in .svg or .html")
        if save is not None and output_format is not SummaryFormat.TABLE:
            raise UsageError("--save keeps the rendered table: use it with --format table")
        source = ModelSource(spec=spec, layers=layers, model=model, scale=scale)
        what_if = WhatIf.of(input, batch=batch, kernel=kernel, stride=stride, padding=padding, sets=set_)
        only = ModelOptions.of(arg=arg, dtype=dtype, timeout=timeout, mode=mode, override=override)
        fallback = engine is None and model is None and not torch_installed()  # torch is an extra
        chosen = Engine.AUTO if fallback else engine or Engine.TORCH
        trace, findings = _trace(source, what_if, only, engine=chosen, depth=depth, debug=debug)
        if fallback:
            typer.echo(
                f"cnninspect: torch is not installed, so the analytic engine traced this; {TORCH_INSTALL}", err=True
            )
        console = _stdout(record=save is not None)
        report = SummaryReport(
            trace,
            findings,
            columns=choose_columns(columns),
            explain=explain,
            width=console.width,
            fit=columns is None,
            depth=depth if model is None else None,
            wrap=_wrap_width(sys.stdout) is not None,
        )
        _emit(RENDERERS[output_format](report), console)
        if output_format is not SummaryFormat.TABLE:
            _echo_findings(findings)
        if save is not None:
            _save(console, save)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


@app.command(cls=CnnInspectCommand)
def draw(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The picture to write: FILE.svg, or FILE.html (the picture you can hover and unfold, and the "
            "table below it).",
            show_default=False,
        ),
    ],
    spec: SpecArg = None,
    layers: LayersOpt = None,
    scale: ScaleOpt = None,
    model: ModelOpt = None,
    input: ModelInputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    override: OverrideOpt = None,
    dtype: DtypeOpt = None,
    timeout: TimeoutOpt = None,
    mode: ModeOpt = None,
    depth: Annotated[
        Optional[int],
        typer.Option(
            "--depth",
            metavar="N",
            min=1,
            help="Draw groups and blocks down to this depth, deeper ones folded into one labelled box "
            "[default: as deep as fits one page].",
            show_default=False,
        ),
    ] = None,
    engine: EngineOpt = Engine.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Draw the model as the tutorial pictures it: each layer's output a volume (H×W face, C deep),
    kernels on the faces they read, merges and skips, mismatches in red with what they expect.

    Exit 0 when every layer fits, 1 when a size mismatch was found (the picture shows it), 2 for
    invalid input.
    """
    from cnninspect.draw import draw as draw_picture
    from cnninspect.draw import format_of
    from cnninspect.fixes.files import write_atomic
    from cnninspect.rules import has_errors

    with _guard(debug=debug):
        fmt = format_of(output)
        if fmt is None:
            raise UsageError(f"-o {output}: give a file ending in .svg or .html")
        source = ModelSource(spec=spec, layers=layers, model=model, scale=scale)
        what_if = WhatIf.of(input, batch=batch, kernel=kernel, stride=stride, padding=padding, sets=set_)
        only = ModelOptions.of(arg=arg, dtype=dtype, timeout=timeout, mode=mode, override=override)
        trace, findings = _trace(source, what_if, only, engine=engine, debug=debug)
        picture = draw_picture(trace, findings, fmt, depth)
        try:
            write_atomic(output, picture.encode("utf-8"), None)
        except EditError as error:
            raise UsageError(f"-o {error.message}") from None
        _echo_findings(findings)
        typer.echo(f"wrote {safe(str(output))}", err=True)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN)


@app.command("fix-fc", cls=CnnInspectCommand)
def fix_fc(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    scale: ScaleOpt = None,
    model: ModelOpt = None,
    input: ModelInputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    override: OverrideOpt = None,
    dtype: DtypeOpt = None,
    timeout: TimeoutOpt = None,
    mode: ModeOpt = None,
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
    from cnninspect.engines import trace_with
    from cnninspect.engines.model import parse_target
    from cnninspect.engines.model.config import project_root
    from cnninspect.fixes.config import config_fixes
    from cnninspect.fixes.files import encode_like, spec_change, write_atomic
    from cnninspect.fixes.plan import plan_fixes
    from cnninspect.fixes.python import python_changes
    from cnninspect.formats.fixes import diff_text, fix_lines, fix_summary, layers_line
    from cnninspect.inputs import load_source
    from cnninspect.spec.overrides import apply_overrides

    with _guard(debug=debug):
        if write and check:
            raise UsageError("--write and --check: give one of them")
        source = ModelSource(spec=spec, layers=layers, model=model, scale=scale)
        what_if = WhatIf.of(input, batch=batch, kernel=kernel, stride=stride, padding=padding, sets=set_)
        only = ModelOptions.of(arg=arg, dtype=dtype, timeout=timeout, mode=mode, override=override)
        if model is not None:
            trace, _ = _trace(source, what_if, only, engine=engine, debug=debug)
            target = model.rpartition(":")[0]
            parsed = parse_target(model, only.overrides)
            project = [Path.cwd(), *([Path(target).parent] if target.endswith(".py") else [])]
            if parsed.config:
                project.append(project_root(Path(target)))
            plan, files, notes = python_changes(trace, project, config_fixes(trace, parsed))
        else:
            only.refuse()
            overrides = what_if.overrides()
            loaded = load_source(spec, layers, source.read_options())
            if write and loaded.path is None:
                raise UsageError(f"{loaded.spec.source} has no file to write; --diff shows the change")
            plan = plan_fixes(apply_overrides(loaded.spec, overrides), partial(trace_with, engine=engine))
            files = [spec_change(loaded, plan.fixed)]
            notes = {}
        typer.echo(fix_lines(plan, notes, width=_wrap_width(sys.stderr if diff else sys.stdout)), err=diff, nl=False)
        changed = [f for f in files if f.after != f.before]
        for change in changed:
            if diff:
                sys.stdout.write(diff_text(change))
            typer.echo(layers_line(change), err=diff, nl=False)
        if write:
            for change in changed:
                assert change.path is not None
                write_atomic(change.path, encode_like(change.raw, change.after), change.raw)
        closing = fix_summary(plan, changed=bool(changed), written=write, label=files[0].label, path=files[0].path)
        typer.echo(closing, err=True)
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
            help=f"Model files, folders (walked for {listing(SPEC_SUFFIXES, 'and')}) and globs. Files that are not "
            f"a {either(SPEC_FORMATS)} are skipped.",
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
    scale: ScaleOpt = None,
    run_models: Annotated[
        bool,
        typer.Option(
            "--run-models",
            help="Also trace Hydra configs of your own classes, with the input of their # cnninspect: input "
            "comment. THIS IMPORTS AND RUNS YOUR CODE, fenced as summary runs your model [default: run-models in "
            "[tool.cnninspect], else off: they are only named].",
            show_default=False,
        ),
    ] = False,
    input: InputOpt = None,
    batch: BatchOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    engine: EngineOpt = Engine.AUTO,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            min=0,
            help="Processes to lint in: 0 is one per CPU core (fewer for a few files; forked on Linux only), "
            "1 lints in this process alone [default: 0].",
            show_default=False,
        ),
    ] = 0,
    debug: DebugOpt = False,
) -> None:
    """Check spec files for CI and pre-commit: size mismatches, invalid specs and warnings.

    A clean run says how many files it checked. Settings come from [tool.cnninspect] in the nearest pyproject.toml;
    options win. Exit 0 when clean or only below --fail-on, 1 with findings at or above it,
    2 for usage or internal errors.
    """
    from cnninspect.config import load_settings
    from cnninspect.discovery import discover
    from cnninspect.formats import lint as lint_formats

    with _guard(debug=debug):
        settings = load_settings(Path.cwd()).with_options(
            select, ignore, fail_on=fail_on, force_exclude=force_exclude or None, run_models=run_models or None
        )
        fmt = output_format or (LintFormat.GITHUB if os.environ.get("GITHUB_ACTIONS") == "true" else LintFormat.FULL)
        what_if = WhatIf.of(input, batch=batch, kernel=kernel, stride=stride, padding=padding, sets=set_)
        overrides = what_if.overrides()
        found = discover(paths, settings)
        checked = found.in_order(
            _lint_all(found.files, settings, overrides, engine, fmt, ModelSource(scale=scale), jobs)
        )
        results = [r for r in checked if r.is_spec]
        skipped = [r for r in checked if not r.is_spec]
        own = {r.path: r.own_classes for r in skipped if r.own_classes}
        unread = [r for r in skipped if r.unread]
        skipped = [r for r in skipped if r.path not in own and not r.unread]
        if settings.run_models:
            results += [result for path in own for result in _lint_model_config(path, settings)]
        if fmt is not LintFormat.FULL or any(r.findings or r.internal_error is not None for r in results):
            _emit(lint_formats.RENDERERS[fmt](results, _wrap_width(sys.stdout)))  # a clean full report is empty
        if not settings.run_models:
            for path, classes in own.items():
                _note(lint_formats.own_classes_line(path, classes))
        for result in unread:
            _note(lint_formats.unread_line(result.path, result.unread))
        if skipped:
            _note(lint_formats.skipped_line(len(skipped)))
        crashed = lint_formats.internal_errors_line(results)
        if summary_line := lint_formats.lint_summary(results):
            _note(summary_line)
        elif fmt in (LintFormat.FULL, LintFormat.CONCISE) and not crashed:
            _note(lint_formats.clean_summary(results))
        for result in results:
            if debug and result.traceback:
                sys.stderr.write(result.traceback)
        if crashed:  # our own bug: exit 2, even with --exit-zero
            _note(crashed)
            raise typer.Exit(EXIT_ERROR)
        failed = any(settings.fails(f) for r in results for f in r.findings)
    raise typer.Exit(EXIT_FINDINGS if failed and not exit_zero else EXIT_CLEAN)


def _lint_all(
    files: Sequence[Path],
    settings: "Settings",
    overrides: "Overrides",
    engine: Engine,
    fmt: LintFormat,
    source: ModelSource,
    jobs: int,
) -> "list[FileResult]":
    from functools import partial

    from cnninspect.linter import lint_file
    from cnninspect.parallel import map_forked

    lint_one = partial(lint_file, settings=settings, overrides=overrides, engine=engine, options=source.read_options())
    linted = map_forked(lint_one, files, jobs)  # the workers start before the progress bar's thread
    if (
        len(files) < PROGRESS_MIN_FILES
        or fmt not in (LintFormat.FULL, LintFormat.CONCISE)
        or not (_isatty(sys.stderr) or any(name in os.environ for name in RICH_TERMINAL_VARIABLES))
    ):  # no progress bar, and no Rich to import: where Rich would surely not see a terminal
        return list(linted)
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_interactive:
        return list(linted)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("linting", total=len(files))
        results = []
        for result in linted:
            results.append(result)
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
    from cnninspect.rules import RULES, select_rules

    with _guard(debug=False):
        if output_format is RulesFormat.MARKDOWN:
            if key is not None:
                raise UsageError("--format markdown writes the whole page; give no RULE")
            sys.stdout.write(rules_formats.rules_markdown())
            return
        chosen = list(RULES) if key is None else select_rules([key], "rules")
        exact = [rule for rule in chosen if key is not None and key.upper() in (rule.code, rule.name.upper())]
        width = _wrap_width(sys.stdout)
        rendered = rules_formats.render_rule(exact[0], width) if exact else rules_formats.render_list(chosen, width)
        _emit(rendered)


@app.command(cls=CnnInspectCommand)
def sizes(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    scale: ScaleOpt = None,
    input: InputOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    set_: SetOpt = None,
    size_range: Annotated[
        str | None,
        typer.Option(
            "--range",
            metavar="FROM:TO",
            help="Square input sizes N to try, both included. Default: 16:512, or up to the spec's own "
            "input size when it is larger (640 for an Ultralytics model).",
            show_default=False,
        ),
    ] = None,
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
    from cnninspect.input_sizes import default_range, input_sizes, parse_range

    with _guard(debug=debug):
        what_if = WhatIf.of(input, kernel=kernel, stride=stride, padding=padding, sets=set_)
        model = _load(ModelSource(spec=spec, layers=layers, scale=scale), what_if)
        unknown = next((layer for layer in model.layers if layer.kind is None), None)
        if unknown is not None:
            from cnninspect.spec.catalog import LAYER_TYPES
            from cnninspect.text import did_you_mean

            raise UsageError(
                f"{unknown.location}: {unknown.type} is not a layer the analytic engine knows, and sizes works from "
                f"it alone{did_you_mean(unknown.type, list(LAYER_TYPES))}"
            )
        report = input_sizes(model, *(parse_range(size_range) if size_range else default_range(model)))
        _emit(sizes_formats.RENDERERS[output_format](report))


@app.command(cls=CnnInspectCommand)
def export(
    spec: SpecArg = None,
    layers: LayersOpt = None,
    scale: ScaleOpt = None,
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
    from cnninspect.engines import trace_with
    from cnninspect.export import export_pytorch
    from cnninspect.rules import find_problems, has_errors

    with _guard(debug=debug):
        what_if = WhatIf.of(input, kernel=kernel, stride=stride, padding=padding, sets=set_)
        trace = trace_with(_load(ModelSource(spec=spec, layers=layers, scale=scale), what_if), engine)
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
    import json

    from cnninspect.inputs import decode_source, format_for, read_source
    from cnninspect.spec.schema import spec_schema
    from cnninspect.spec.yamldoc import read_document

    with _guard(debug=debug):
        document = None
        if spec is not None:
            text = decode_source(read_source(spec), str(spec))
            fmt = format_for(text, str(spec))
            if not fmt.has_schema:
                raise UsageError(
                    f"{spec} is {article(fmt.title)} {fmt.title}; the schema describes cnninspect's YAML specs"
                )
            document = read_document(text, str(spec))
        sys.stdout.write(json.dumps(spec_schema(document), indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------
# Helpers


def _trace(
    source: ModelSource,
    what_if: WhatIf,
    only: ModelOptions,
    *,
    engine: Engine,
    depth: int | None = None,
    debug: bool = False,
) -> "tuple[Trace, list[Finding]]":
    """The trace and findings of a SPEC, ``--layers`` or ``--model``, with the what-if options."""
    from cnninspect.rules import find_problems

    if source.model is None:
        from cnninspect.engines import trace_with

        only.refuse()
        trace = trace_with(_load(source, what_if), engine)
        return trace, find_problems(trace)
    from cnninspect.engines import require_torch

    require_torch("--model")
    from cnninspect.engines.model import inspect_model, parse_args, parse_target
    from cnninspect.fixes.config import config_fixes
    from cnninspect.fixes.python import with_suggestions

    if source.spec is not None or source.layers is not None:
        raise UsageError("give a SPEC file, --layers or --model, not more than one")
    if what_if.kernel or what_if.stride or what_if.padding or what_if.sets:
        raise UsageError("--kernel, --stride, --padding and --set change specs; a --model takes --arg instead")
    if only.timeout is not None and not only.timeout > 0:
        raise UsageError(f"--timeout {only.timeout:g}: give a number of seconds above 0")
    target = parse_target(source.model, only.overrides)
    inputs = what_if.inputs
    if not inputs and target.config and target.path is not None:
        from cnninspect.engines.model.config import input_comment

        given = input_comment(target.path, target.overrides)
        inputs = (given,) if given is not None else ()
    trace = inspect_model(
        target,
        parse_args(only.args),
        inputs,
        dtypes=only.dtypes,
        batch=what_if.batch or 1,
        depth=depth,
        timeout=MODEL_TIMEOUT if only.timeout is None else only.timeout,
        mode=only.mode,
        quiet=not debug,
    )
    return trace, with_suggestions(find_problems(trace), trace, config_fixes(trace, target))


def _load(source: ModelSource, what_if: WhatIf) -> "ModelSpec":
    """A SPEC or ``--layers`` with the what-if options applied (they are checked first)."""
    from cnninspect.inputs import load_source
    from cnninspect.spec.overrides import apply_overrides

    overrides = what_if.overrides()
    return apply_overrides(load_source(source.spec, source.layers, source.read_options()).spec, overrides)


def _lint_model_config(path: str, settings: "Settings") -> "list[FileResult]":
    """lint --run-models: a Hydra config of the user's own classes traced as a whole, its input from
    its comment; the findings grouped by the file they point at (the config, or the user's source)."""
    from cnninspect.linter import FileResult
    from cnninspect.rules import error_finding

    try:
        _, findings = _trace(ModelSource(model=f"{path}:"), WhatIf(), ModelOptions(), engine=Engine.AUTO)
    except CnnInspectError as error:
        findings = [error_finding(error, path)]
    enabled = settings.enabled(Path(path))
    by_file: dict[str, list[Finding]] = {path: []}
    for finding in findings:
        if finding.rule in enabled:
            by_file.setdefault(finding.location.path, []).append(finding)
    return [FileResult(file, tuple(found)) for file, found in by_file.items()]


def _stdout(record: bool = False) -> "Console":
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, record=record, width=_width())


def _stderr() -> "Console":
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, width=_width())


def _width() -> int:
    """The terminal's width; an odd one (``COLUMNS=0``) reads as 80, so output is never lost."""
    from rich.console import Console

    width = Console().width
    return width if width >= MIN_WIDTH else 80


def _wrap_width(stream: TextIO) -> int | None:
    """The width to break long lines at when ``stream`` is a terminal; None when it is piped, where
    each finding stays one line for tools. TTY_COMPATIBLE=1 or 0 says which, as Rich reads it."""
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced == "0" or (forced != "1" and not _isatty(stream)):
        return None
    return _width()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def _emit(rendered: "str | Text", console: "Console | None" = None) -> None:
    """Machine formats go to stdout untouched; Rich text through the console (colour, NO_COLOR)."""
    if isinstance(rendered, str):
        sys.stdout.write(rendered)
    else:
        (console or _stdout()).print(rendered, end="")


def _note(line: str) -> None:
    """A line on stderr for people: broken at words on a terminal (continuations indented by two),
    whole when piped."""
    from cnninspect.formats.wrap import hang

    width = _wrap_width(sys.stderr)
    typer.echo(hang(line, width, indent=2) if width is not None else line, err=True)


def _echo_findings(findings: "Sequence[Finding]") -> None:
    from cnninspect.formats.wrap import finding_text

    width = _wrap_width(sys.stderr)
    for finding in findings:
        typer.echo(finding_text(finding, width), err=True)


def _save(console: "Console", path: Path) -> None:
    """The recorded table as a picture, written atomically (a full disk leaves the old file)."""
    from cnninspect.fixes.files import write_atomic

    picture = console.export_svg(title="cnninspect") if path.suffix.lower() == ".svg" else console.export_html()
    try:
        write_atomic(path, picture.encode("utf-8"), None)
    except EditError as error:
        raise UsageError(f"--save {error.message}") from None
    typer.echo(f"saved {safe(str(path))}", err=True)


@contextmanager
def _guard(*, debug: bool) -> Iterator[None]:
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
        if isinstance(error, OSError) and error.errno in FULL_ERRNOS:
            _fail(f"cannot write the output: {error.strerror}; free some space, or write it elsewhere")
        _fail(f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)")


def _fail(message: str) -> NoReturn:
    from rich.text import Text

    _stderr().print(Text(f"cnninspect: error: {safe(message)}"))
    raise typer.Exit(EXIT_ERROR)


def run() -> None:
    """Console-script entry point. Once torch is loaded, the process ends without the interpreter's
    teardown of torch's modules (half a second or more, measured in bench/): the output is flushed
    first and cnninspect registers no exit handlers of its own."""
    gc.set_threshold(*GC_THRESHOLDS)
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
