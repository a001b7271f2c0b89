"""Renderers: one set of rows, four formats. Machine formats are plain strings; the table is Rich."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cnninspect import __version__
from cnninspect.catalog import Family
from cnninspect.errors import UsageError
from cnninspect.findings import RULES, Finding, Severity
from cnninspect.linter import FileResult
from cnninspect.records import BYTES_PER_VALUE, LayerRecord, Problem, Trace
from cnninspect.shapes import explain, mult_adds, receptive_fields
from cnninspect.sizes import SizeReport, compact
from cnninspect.spec import did_you_mean, expand, show_value


class SummaryFormat(StrEnum):
    """Output formats of ``summary``."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CSV = "csv"


@dataclass(frozen=True)
class Column:
    """One column of the summary table (and of the Markdown table)."""

    key: str
    """Its name for ``--columns``."""
    title: str
    """Its heading."""
    cell: Callable[[dict[str, Any]], str]
    """The cell's text, from a summary row."""
    numeric: bool = False
    """Right-aligned."""
    wraps: bool = False
    """May wrap onto several lines."""
    caption: str = ""
    """What the heading means, for the caption under the table."""


COLUMNS = {
    c.key: c
    for c in (
        Column("index", "#", lambda r: str(r["index"]), numeric=True),
        Column("layer", "Layer", lambda r: "  " * r["depth"] + r["name"], wraps=True),
        Column("type", "Type", lambda r: r["type"]),
        Column("filters", "Filters", lambda r: r["filters"], wraps=True),
        Column(
            "stride",
            "S/P",
            lambda r: f"{r['stride']} / {r['padding']}" if r["stride"] else "",
            caption="S/P = stride / padding",
        ),
        Column("output", "Output", lambda r: r["output"], caption="Output = H×W×C (channels last, no batch)"),
        Column("params", "Params", lambda r: r["params_text"], numeric=True, caption="Params = weights + bias"),
        Column(
            "mult-adds",
            "Mult-adds",
            lambda r: "?" if r["mult_adds"] is None else f"{r['mult_adds']:,}" if r["mult_adds"] else "—",
            numeric=True,
            caption="Mult-adds: 1 per multiply-accumulate, bias adds included",
        ),
        Column(
            "memory",
            "Memory",
            lambda r: human_bytes(r["activation_bytes"]) if r["output_shape"] else "—",
            numeric=True,
            caption="Memory = the layer's output, float32",
        ),
        Column("rf", "RF / jump", lambda r: r["reach"], caption="RF / jump = receptive field / input pixels per step"),
        Column("volume", "Volume", lambda r: r["volume_bar"], caption="Volume = output values, to scale"),
        Column("notes", "Notes", lambda r: r["notes"], wraps=True),
    )
}
"""Every column ``--columns`` can choose, in display order."""
DEFAULT_COLUMNS = ("index", "layer", "type", "filters", "stride", "output", "params", "mult-adds", "notes")
DISPLAY_ONLY = ("params_text", "reach", "volume_bar")
"""Row fields that only format other fields for the table; json leaves them out."""
VOLUME_WIDTH = 10
BLOCKS = " ▏▎▍▌▋▊▉█"
SEVERITY_STYLES = {Severity.ERROR: "red", Severity.WARNING: "yellow"}


def choose_columns(text: str | None) -> tuple[str, ...]:
    """``--columns``: comma-separated keys, ``all``, or ``+key`` to add to the defaults."""
    if text is None:
        return DEFAULT_COLUMNS
    if text.strip() == "all":
        return tuple(COLUMNS)
    keys = [k.strip() for k in text.split(",") if k.strip()]
    extra = all(k.startswith("+") for k in keys)
    keys = [k.lstrip("+") for k in keys]
    for key in keys:
        if key not in COLUMNS:
            raise UsageError(
                f"--columns: no column {key!r}{did_you_mean(key, list(COLUMNS))}; choose from {', '.join(COLUMNS)}"
            )
    chosen = set(keys) | (set(DEFAULT_COLUMNS) if extra else set())
    return tuple(k for k in COLUMNS if k in chosen)


def caption_text(columns: Sequence[str]) -> str:
    """What the chosen headings mean."""
    return " · ".join(COLUMNS[k].caption for k in columns if COLUMNS[k].caption)


def summary_rows(trace: Trace, findings: Sequence[Finding], with_explain: bool = False) -> list[dict[str, Any]]:
    """One dict per traced layer: everything every format shows."""
    by_layer: dict[str, list[Finding]] = {}
    for finding in findings:
        by_layer.setdefault(finding.layer, []).append(finding)
    rows = []
    reaches = receptive_fields(trace)
    largest = max((math.prod(r.output_shape) for r in trace.records if r.output_shape), default=1)
    for record, reach in zip(trace.records, reaches):
        layer = record.layer
        stride, padding = _stride_pad(record)
        row: dict[str, Any] = {
            "index": layer.index,
            "name": layer.name,
            "type": layer.type,
            "filters": filters_text(record),
            "stride": stride,
            "padding": padding,
            "input_shape": list(record.input_shape),
            "output_shape": None if record.output_shape is None else list(record.output_shape),
            "output": "—" if record.output_shape is None else feature_map_text(record.output_shape),
            "weights": record.weights,
            "biases": record.biases,
            "params": record.params,
            "trainable": record.trainable,
            "params_text": params_text(record),
            "mult_adds": mult_adds(record),
            "activation_bytes": record.output_bytes,
            "receptive_field": None if reach is None else [_number(v) for v in reach[0]],
            "jump": None if reach is None else [_number(v) for v in reach[1]],
            "reach": "" if reach is None else f"{_same(reach[0])} / {_same(reach[1])}",
            "volume_bar": _bar(math.prod(record.output_shape) / largest) if record.output_shape else "",
            "depth": record.depth,
            "notes": notes_text(record),
            "findings": [f.rule.code for f in by_layer.get(layer.name, [])],
        }
        if with_explain:
            row["explain"] = explain(record)
        rows.append(row)
    return rows


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _same(values: Sequence[Fraction]) -> str:
    """``7`` when every dimension agrees, else ``7×5``; fractions as ``1/2``."""
    texts = [str(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "×".join(texts)


def _bar(share: float) -> str:
    """A bar of up to VOLUME_WIDTH cells, in eighths of a cell; never empty for a non-zero share."""
    eighths = max(1, round(share * VOLUME_WIDTH * 8))
    return (BLOCKS[-1] * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")).ljust(VOLUME_WIDTH)


def totals(trace: Trace) -> dict[str, Any]:
    """The footer's numbers."""
    counts = [mult_adds(r) for r in trace.records]
    return {
        "mult_adds": None if None in counts else sum(c or 0 for c in counts),
        "params": trace.total_params,
        "weights": sum(r.weights for r in trace.records),
        "biases": sum(r.biases for r in trace.records),
        "trainable": trace.trainable_params,
        "non_trainable": trace.total_params - trace.trainable_params,
        "param_bytes": trace.param_bytes,
        "activation_bytes": trace.activation_bytes,
    }


def feature_map_text(shape: Sequence[int]) -> str:
    """Batch dropped, channels last, as the tutorial writes them: (1, 32, 7, 7) → ``7×7×32``."""
    dims = list(shape[1:])
    if len(dims) >= 2:
        dims = dims[1:] + dims[:1]
    return "×".join(str(d) for d in dims)


def filters_text(record: LayerRecord) -> str:
    """Conv filters as ``count × height×width×depth`` (``16 × 5×5×3``); Linear as ``out × in``."""
    layer = record.layer
    kind = layer.kind
    if kind is None or (record.in_size is None and kind.family not in (Family.MAX_POOL, Family.AVG_POOL)):
        return ""
    if kind.family in (Family.CONV, Family.CONV_TRANSPOSE):
        kernel = "×".join(str(k) for k in expand(layer.get("kernel_size"), kind.dims))
        depth = record.in_size // layer.get("groups") if kind.family is Family.CONV else record.in_size
        return f"{layer.get('out_channels')} × {kernel}×{depth}"
    if kind.family is Family.LINEAR:
        return f"{layer.get('out_features')} × {record.in_size}"
    if kind.family in (Family.MAX_POOL, Family.AVG_POOL):
        return "×".join(str(k) for k in expand(layer.get("kernel_size"), kind.dims)) + " window"
    return ""


def _stride_pad(record: LayerRecord) -> tuple[str, str]:
    layer = record.layer
    kind = layer.kind
    if kind is None or kind.family not in (Family.CONV, Family.CONV_TRANSPOSE, Family.MAX_POOL, Family.AVG_POOL):
        return "", ""
    stride = layer.get("stride")
    if stride is None:  # pools default to their kernel size
        stride = layer.get("kernel_size")
    return _compact(stride), _compact(layer.get("padding"))


def _compact(value: Any) -> str:
    if isinstance(value, tuple):
        return "×".join(str(v) for v in value)
    return str(value)


def params_text(record: LayerRecord) -> str:
    """``448 = 432 + 16``: total, weights and bias apart."""
    if not record.params:
        return "—"
    if not record.biases:
        return f"{record.params:,}"
    return f"{record.params:,} = {record.weights:,} + {record.biases:,}"


def notes_text(record: LayerRecord) -> str:
    """Short notes for the table: mismatches and inferred sizes."""
    notes = []
    for m in record.mismatches:
        if m.problem is Problem.RANK:
            notes.append("✗ wrong input rank; trace stops")
        elif m.problem is Problem.COLLAPSE:
            notes.append(f"✗ empty output; needs ≥ {m.fits}")
        elif m.declared is None:
            notes.append(f"✗ {m.received} channels don't fit the groups")
        else:
            notes.append(f"✗ {m.arg} {show_value(m.declared)}, gets {show_value(m.received)}")
    kind = record.layer.kind
    if kind and kind.inferred and kind.inferred not in record.layer.args and not record.mismatches:
        notes.append(f"{kind.inferred} inferred")
    if record.note:
        notes.append(record.note)
    return "; ".join(notes)


def human_bytes(count: int) -> str:
    """1,536 → ``1.5 KiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def title_text(trace: Trace) -> str:
    """``myCNN · input 1×3×32×32 · torch engine · --kernel 5``."""
    spec = trace.spec
    parts = [spec.name, f"input {'×'.join(map(str, spec.batched_input))}", f"{trace.engine} engine"]
    parts += list(spec.overridden)
    return " · ".join(parts)


def footer_lines(trace: Trace) -> list[str]:
    """Totals under the table."""
    t = totals(trace)
    lines = [
        f"Total params: {t['params']:,} (weights {t['weights']:,} + biases {t['biases']:,})",
        f"Trainable params: {t['trainable']:,} · Non-trainable params: {t['non_trainable']:,}",
        f"Param memory: {human_bytes(t['param_bytes'])} · Activation memory: {human_bytes(t['activation_bytes'])} "
        f"(every layer's output, batch {trace.spec.batch}, float{8 * BYTES_PER_VALUE})",
    ]
    if t["mult_adds"] is not None:
        lines.append(
            f"Mult-adds: {t['mult_adds']:,} ({t['mult_adds'] / 1e6:,.2f} M; one per multiply-accumulate, "
            "bias adds included)"
        )
    if not trace.complete:
        lines.append(f"Traced {len(trace.records)} of {len(trace.spec.layers)} layers: the trace stopped.")
    return lines


# ---------------------------------------------------------------------------------------


def print_table(
    console: Console,
    trace: Trace,
    findings: Sequence[Finding],
    with_explain: bool = False,
    columns: Sequence[str] = DEFAULT_COLUMNS,
) -> None:
    """Print the Rich table with its title, footer, the formulas (optionally) and the findings."""
    table = Table(
        title=Text(title_text(trace)), title_justify="left", caption=caption_text(columns), caption_justify="left"
    )
    for key in columns:
        column = COLUMNS[key]
        table.add_column(column.title, justify="right" if column.numeric else "left", no_wrap=not column.wraps)
    rows = summary_rows(trace, findings, with_explain)
    for record, row in zip(trace.records, rows):
        cells = [Text(COLUMNS[key].cell(row), style="cyan" if key == "volume" else "") for key in columns]
        table.add_row(*cells, style="bold red" if record.mismatches else None)
    console.print(table)
    console.print(Text("\n".join(footer_lines(trace))))
    if with_explain:
        console.print(Text("\n".join(["", "How each size comes about:", *_explain_lines(rows)])))
    console.print()
    if not findings:
        console.print(Text("No size problems found.", style="green"))
    for finding in findings:
        console.print(Text(finding.line, style=SEVERITY_STYLES[finding.rule.severity]), soft_wrap=True)


def _explain_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    width = max((len(r["name"]) for r in rows if r["explain"]), default=0)
    return [f"  {r['name']:<{width}}  {line}" for r in rows for line in r["explain"]]


def render_json(
    trace: Trace, findings: Sequence[Finding], with_explain: bool = False, columns: Sequence[str] = DEFAULT_COLUMNS
) -> str:
    """Everything, shapes in PyTorch order with the batch."""
    document = {
        "model": trace.spec.name,
        "source": trace.spec.source,
        "engine": trace.engine,
        "input": list(trace.spec.batched_input),
        "overrides": list(trace.spec.overridden),
        "complete": trace.complete,
        "layers": [
            {k: v for k, v in row.items() if k not in DISPLAY_ONLY}
            for row in summary_rows(trace, findings, with_explain)
        ],
        "totals": totals(trace),
        "findings": [finding_dict(f) for f in findings],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def finding_dict(finding: Finding) -> dict[str, Any]:
    """A finding as JSON-ready data."""
    return {
        "code": finding.rule.code,
        "name": finding.rule.name,
        "severity": finding.rule.severity.value,
        "path": finding.location.path,
        "line": finding.location.line,
        "col": finding.location.col,
        "layer": finding.layer,
        "message": finding.message,
        "fix": None if finding.fix is None else {"arg": finding.fix[0], "value": finding.fix[1]},
    }


def render_markdown(
    trace: Trace, findings: Sequence[Finding], with_explain: bool = False, columns: Sequence[str] = DEFAULT_COLUMNS
) -> str:
    """A GitHub-flavoured Markdown table with the same rows, footer and findings."""
    rows = summary_rows(trace, findings, with_explain)
    chosen = [COLUMNS[k] for k in columns]
    lines = [
        f"**{_md(title_text(trace))}**",
        "",
        "| " + " | ".join(c.title for c in chosen) + " |",
        "|" + "|".join("---:" if c.numeric else "---" for c in chosen) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_md(c.cell(row).strip()) for c in chosen) + " |")
    lines += ["", f"_{_md(caption_text(columns))}_", "", *(f"- {_md(line)}" for line in footer_lines(trace))]
    if with_explain:
        lines += [
            "",
            "How each size comes about:",
            "",
            *(f"- `{r['name']}`: {_md(e)}" for r in rows for e in r["explain"]),
        ]
    lines += ["", *(f"- {_md(f.line)}" for f in findings)] if findings else ["", "- No size problems found."]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


CSV_FIELDS = (
    "index",
    "name",
    "type",
    "filters",
    "stride",
    "padding",
    "input_shape",
    "output_shape",
    "output",
    "weights",
    "biases",
    "params",
    "trainable",
    "mult_adds",
    "activation_bytes",
    "receptive_field",
    "jump",
    "notes",
    "findings",
)


def render_csv(
    trace: Trace, findings: Sequence[Finding], with_explain: bool = False, columns: Sequence[str] = DEFAULT_COLUMNS
) -> str:
    """One row per layer; shapes in PyTorch order as ``1x32x7x7``."""
    buffer = io.StringIO()
    fields = CSV_FIELDS + (("explain",) if with_explain else ())
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in summary_rows(trace, findings, with_explain):
        flat = dict(row)
        for key in ("input_shape", "output_shape", "receptive_field", "jump"):
            flat[key] = "" if row[key] is None else "x".join(map(str, row[key]))
        flat["findings"] = " ".join(row["findings"])
        if with_explain:
            flat["explain"] = "; ".join(row["explain"])
        writer.writerow(flat)
    return buffer.getvalue()


MACHINE_RENDERERS = {
    SummaryFormat.JSON: render_json,
    SummaryFormat.MARKDOWN: render_markdown,
    SummaryFormat.CSV: render_csv,
}
"""Every format but the Rich table, each a function (trace, findings, explain, columns) → text; json and
csv carry every field whatever the columns."""


# ---------------------------------------------------------------------------------------
# sizes


class SizesFormat(StrEnum):
    """Output formats of ``sizes``."""

    TABLE = "table"
    JSON = "json"


def sizes_rows(report: SizeReport) -> list[tuple[str, str]]:
    """(what, which sizes) for the table."""
    spec = report.spec
    dims = len(spec.input) - 1
    square = "×".join(["N"] * dims)
    rows = [
        ("Smallest input", f"{'×'.join(map(str, report.smallest))} (each dimension on its own)"),
        (f"Every layer keeps an output ({square})", compact(report.survive)),
    ]
    rows += [
        (f"{name}: in_features {report.declared[name]:,} fits", compact(sizes))
        for name, sizes in report.linear_fits.items()
    ]
    rows.append(("No input row or column dropped", compact(report.exact)))
    return rows


def print_sizes(console: Console, report: SizeReport) -> None:
    """The compact table of accepted sizes."""
    spec = report.spec
    square = "×".join(["N"] * (len(spec.input) - 1))
    first, last = report.tried[0], report.tried[-1]
    title = f"{spec.name} · input {spec.input[0]}×{square}, N from {first} to {last} · analytic engine"
    table = Table(title=Text(title), title_justify="left", show_header=True)
    table.add_column("Accepts")
    table.add_column("N")
    for what, which in sizes_rows(report):
        table.add_row(Text(what), Text(which))
    console.print(table)


def render_sizes_json(report: SizeReport) -> str:
    """Every size, listed."""
    document = {
        "model": report.spec.name,
        "channels": report.spec.input[0],
        "tried": [report.tried[0], report.tried[-1]],
        "smallest_input": list(report.smallest),
        "survive": list(report.survive),
        "linear_fits": {
            name: {"in_features": report.declared[name], "sizes": list(sizes)}
            for name, sizes in report.linear_fits.items()
        },
        "no_rows_dropped": list(report.exact),
    }
    return json.dumps(document, indent=2) + "\n"


# ---------------------------------------------------------------------------------------
# lint


class LintFormat(StrEnum):
    """Output formats of ``lint``."""

    FULL = "full"
    CONCISE = "concise"
    JSON = "json"
    GITHUB = "github"
    SARIF = "sarif"


FIX_FC_CODES = ("CNN201", "CNN202", "CNN203")
"""Findings that ``fix-fc --write`` repairs."""


SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning"}


def lint_summary(results: Sequence[FileResult]) -> str:
    """``3 problems (2 errors, 1 warning) in 2 of 5 files``; empty when clean."""
    findings = [f for r in results for f in r.findings]
    if not findings:
        return ""
    errors = sum(f.rule.severity is Severity.ERROR for f in findings)
    warnings = len(findings) - errors
    files = sum(bool(r.findings) for r in results)
    parts = [f"{n} {word}{'s' * (n != 1)}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
    return (
        f"{len(findings)} problem{'s' * (len(findings) != 1)} ({', '.join(parts)}) "
        f"in {files} of {len(results)} file{'s' * (len(results) != 1)}"
    )


def print_lint_full(console: Console, results: Sequence[FileResult]) -> None:
    """Findings grouped by file, each with its place, severity, code, message and remedy."""
    for result in results:
        if not result.findings:
            continue
        console.print(Text(result.path, style="bold underline"))
        grid = Table.grid(padding=(0, 2), pad_edge=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column()
        for finding in result.findings:
            message = Text(finding.message)
            message.append(f" ({finding.rule.name})", style="dim")
            if finding.fix is not None and finding.rule.code in FIX_FC_CODES:
                message.append(f"\nfix: cnninspect fix-fc {result.path} --write", style="green")
            grid.add_row(
                f"{finding.location.line}:{finding.location.col}",
                Text(finding.rule.severity.value, style=SEVERITY_STYLES[finding.rule.severity]),
                Text(finding.rule.code, style="bold"),
                message,
            )
        console.print(grid)
        console.print()


def render_concise(results: Sequence[FileResult]) -> str:
    """``path:line:col: CODE message``, one per line."""
    return "".join(f"{f.line}\n" for r in results for f in r.findings)


def render_lint_json(results: Sequence[FileResult]) -> str:
    """Every finding as JSON-ready data, and how many files were checked."""
    document = {
        "files_checked": len(results),
        "findings": [finding_dict(f) for r in results for f in r.findings],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_github(results: Sequence[FileResult]) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's files."""
    lines = []
    for finding in (f for r in results for f in r.findings):
        level = "error" if finding.rule.severity is Severity.ERROR else "warning"
        properties = ",".join(
            f"{key}={_github_property(str(value))}"
            for key, value in (
                ("file", _repo_path(finding.location.path)),
                ("line", finding.location.line),
                ("col", finding.location.col),
                ("title", f"{finding.rule.code} {finding.rule.name}"),
            )
        )
        lines.append(f"::{level} {properties}::{_github_data(finding.message)}\n")
    return "".join(lines)


def _github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def _repo_path(path: str) -> str:
    """A path relative to the working folder (the repository root in CI), with forward slashes."""
    target = Path(path)
    try:
        return target.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return target.as_posix()


def render_sarif(results: Sequence[FileResult]) -> str:
    """SARIF 2.1.0, as GitHub code scanning reads it: every rule described, every result placed."""
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.explanation},
            "help": {"text": f"{rule.explanation}\n\nFailing:\n{rule.failing.spec}\nPassing:\n{rule.passing.spec}"},
            "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
        }
        for rule in RULES
    ]
    index = {rule.code: i for i, rule in enumerate(RULES)}
    sarif_results = [
        {
            "ruleId": finding.rule.code,
            "ruleIndex": index[finding.rule.code],
            "level": SARIF_LEVELS[finding.rule.severity],
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _repo_path(finding.location.path)},
                        "region": {"startLine": finding.location.line, "startColumn": finding.location.col},
                    }
                }
            ],
        }
        for finding in (f for r in results for f in r.findings)
    ]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cnninspect",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


LINT_RENDERERS = {
    LintFormat.CONCISE: render_concise,
    LintFormat.JSON: render_lint_json,
    LintFormat.GITHUB: render_github,
    LintFormat.SARIF: render_sarif,
}
"""Plain-text formats; ``full`` is printed with Rich by ``print_lint_full``."""
