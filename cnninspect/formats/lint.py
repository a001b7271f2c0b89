"""``lint`` in every format: full (for people), concise, json, github and sarif.

cnninspect's own failure on a file (an internal error) is never a finding: each format shows it
apart, as cnninspect's bug (json: ``internal_errors``; sarif: a tool execution notification).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from cnninspect import __version__
from cnninspect.formats.choices import LintFormat
from cnninspect.formats.common import SEVERITY_STYLES, finding_json, json_text
from cnninspect.formats.wrap import MIN_TEXT, finding_text, hang
from cnninspect.rules import RULES, Finding, Severity
from cnninspect.text import plural, safe, utf8

if TYPE_CHECKING:
    from rich.text import Text

    from cnninspect.linter import FileResult

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning"}
MARGIN = "  "


def lint_summary(results: Sequence[FileResult]) -> str:
    """``3 problems (2 errors, 1 warning) in 2 of 5 files``; empty when clean."""
    findings = [f for r in results for f in r.findings]
    if not findings:
        return ""
    errors = sum(f.rule.severity is Severity.ERROR for f in findings)
    parts = [plural(n, word) for n, word in ((errors, "error"), (len(findings) - errors, "warning")) if n]
    files = sum(bool(r.findings) for r in results)
    return f"{plural(len(findings), 'problem')} ({', '.join(parts)}) in {files} of {plural(len(results), 'file')}"


def clean_summary(results: Sequence[FileResult]) -> str:
    """``All checks passed: 3 files checked.``, for a run without findings (files skipped as not
    model specs are counted on their own line)."""
    return f"All checks passed: {plural(len(results), 'file')} checked."


def skipped_line(count: int) -> str:
    """``skipped 3 files that are not model specs (…)``."""
    what = "is not a model spec" if count == 1 else "are not model specs"
    why = "no layers:, no backbone: and head:, no torch.nn _target_, no [net]"
    return f"skipped {plural(count, 'file')} that {what} ({why})"


def unread_line(path: str, why: str) -> str:
    """``PATH: a model cnninspect does not read (row 22: …); not checked``."""
    return safe(f"{path}: not checked: {why}")


def own_classes_line(path: str, classes: Sequence[tuple[str, str]]) -> str:
    """``PATH: a Hydra config of your own classes (…); lint never runs your code, so …: run …``."""
    names = ", ".join(dict.fromkeys(name for _, name in classes))
    node = next((key for key, _ in classes if key), None)
    command = f"cnninspect summary --model {path}:{node}" if node else "cnninspect summary --model CONFIG.yaml:KEY"
    return safe(
        f"{path}: a Hydra config of your own classes ({names}); lint never runs your code, so it was not "
        f"checked: run {command}"
    )


def internal_error_text(result: FileResult) -> str:
    """What an internal error on a file says: that it is cnninspect's bug, not the file's problem."""
    return (
        f"internal error: cnninspect failed on this file ({result.internal_error}); this is a bug in cnninspect, "
        "not a problem in the file: please report it (--debug shows the traceback)"
    )


def internal_errors_line(results: Sequence[FileResult]) -> str:
    """The line on stderr when cnninspect failed on some files; empty when it failed on none."""
    crashed = sum(result.internal_error is not None for result in results)
    if not crashed:
        return ""
    return (
        f"cnninspect: error: internal error on {plural(crashed, 'file')}: a bug in cnninspect, not a problem in "
        f"{'the file' if crashed == 1 else 'the files'} (run with --debug for the traceback)"
    )


def render_full(results: Sequence[FileResult], width: int | None = None) -> Text:
    """Findings grouped by file: place, severity, code, message (rule name), and the fix-fc command
    for the ones it repairs. One line per finding; at a ``width`` (a terminal), a long message
    breaks at words under itself. A file cnninspect failed on says so."""
    from rich.text import Text

    from cnninspect.formats import table
    from cnninspect.formats.table import Column, Row

    text = Text()
    for result in results:
        if result.internal_error is not None:
            text.append(safe(result.path) + "\n", style="bold underline")
            text.append(f"{MARGIN}{safe(internal_error_text(result))}\n\n", style="bold red")
            continue
        if not result.findings:
            continue
        text.append(safe(result.path) + "\n", style="bold underline")
        rows = [
            Row(
                [
                    f"{f.location.line}:{f.location.col}",
                    f.rule.severity.value,
                    f.rule.code,
                    f"{safe(f.message)} ({f.rule.name})",
                ],
                cell_styles={1: SEVERITY_STYLES[f.rule.severity], 2: "bold"},
            )
            for f in result.findings
        ]
        columns = [Column("", right=True), Column(""), Column(""), Column("")]
        sizes = table.widths(columns, rows)
        indent = " " * (len(MARGIN) + sum(sizes[:3]) + 3 * len(table.GAP))
        for row, finding in zip(rows, result.findings):
            message, *more = _message_lines(row.cells[3], width, len(indent))
            text.append(MARGIN)
            first = Row([*row.cells[:3], message], cell_styles=row.cell_styles)
            text.append_text(table.row_text(first, columns, sizes))
            text.append("".join(f"\n{indent}{line}" for line in more) + "\n")
            if finding.fix is not None and finding.rule.fixable:
                fix = f"fix: cnninspect fix-fc {safe(result.path)} --write"
                # a command is not broken at words: on a narrow terminal it moves left to fit
                pad = indent if width is None or len(indent) + len(fix) <= width else MARGIN * 2
                text.append(f"{pad}{fix}\n", style="green")
        text.append("\n")
    return text


def _message_lines(message: str, width: int | None, indent: int) -> list[str]:
    """A message as the lines it takes in the columns right of ``indent``: one when piped."""
    if width is None:
        return [message]
    return hang(message, max(width - indent, MIN_TEXT), 0).split("\n")


def render_concise(results: Sequence[FileResult], width: int | None = None) -> str:
    """``path:line:col: CODE message``, one per line; at a ``width`` (a terminal), broken at words
    under the message; ``path: internal error: …`` for a file cnninspect failed on."""
    lines = []
    for result in results:
        if result.internal_error is not None:
            lines.append(f"{safe(result.path)}: {safe(internal_error_text(result))}\n")
        lines += [f"{finding_text(f, width)}\n" for f in result.findings]
    return "".join(lines)


def render_json(results: Sequence[FileResult], width: int | None = None) -> str:
    """Every finding as JSON data, and how many files were checked; ``internal_errors`` lists the files
    cnninspect failed on (only when there are any), apart from the findings."""
    document: dict[str, object] = {
        "files_checked": len(results),
        "findings": [finding_json(f) for r in results for f in r.findings],
    }
    crashed = [{"path": r.path, "error": r.internal_error} for r in results if r.internal_error is not None]
    if crashed:
        document["internal_errors"] = crashed
    return json_text(document)


def render_github(results: Sequence[FileResult], width: int | None = None) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's files."""
    lines = []
    for finding in _all(results):
        properties = ",".join(
            f"{key}={_github_property(str(value))}"
            for key, value in (
                ("file", repo_path(finding.location.path)),
                ("line", finding.location.line),
                ("col", finding.location.col),
                ("title", f"{finding.rule.code} {finding.rule.name}"),
            )
        )
        lines.append(f"::{SARIF_LEVELS[finding.rule.severity]} {properties}::{_github_data(finding.message)}\n")
    for result in results:
        if result.internal_error is not None:
            where = f"file={_github_property(repo_path(result.path))},title=cnninspect internal error"
            lines.append(f"::error {where}::{_github_data(internal_error_text(result))}\n")
    return utf8("".join(lines))


def _github_data(text: str) -> str:
    """GitHub's escaping (``%``, CR and LF), after every other control character is shown escaped."""
    lines = "\n".join("\r".join(safe(part) for part in line.split("\r")) for line in text.split("\n"))
    return lines.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def repo_path(path: str) -> str:
    """A path relative to the working folder (the repository root in CI), with forward slashes."""
    target = Path(path)
    try:
        return target.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return target.as_posix()


def render_sarif(results: Sequence[FileResult], width: int | None = None) -> str:
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
    sarif_results = [
        {
            "ruleId": finding.rule.code,
            "ruleIndex": RULES.index(finding.rule),
            "level": SARIF_LEVELS[finding.rule.severity],
            "message": {"text": finding.message},
            **({"properties": {"uses": list(finding.uses)}} if finding.uses else {}),
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(finding.location.path)},
                        "region": {"startLine": finding.location.line, "startColumn": finding.location.col},
                    }
                }
            ],
        }
        for finding in _all(results)
    ]
    driver = {"name": "cnninspect", "version": __version__, "rules": rules}
    run: dict[str, object] = {"tool": {"driver": driver}, "results": sarif_results}
    notifications = [
        {
            "level": "error",
            "message": {"text": internal_error_text(result)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(result.path)}}}],
        }
        for result in results
        if result.internal_error is not None
    ]
    if notifications:  # our own failure: reported about the run, never as a result (a finding)
        run["invocations"] = [{"executionSuccessful": False, "toolExecutionNotifications": notifications}]
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return utf8(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _uri(path: str) -> str:
    """A SARIF artifact's URI: the repository-relative path, percent-encoded."""
    return quote(os.fsencode(repo_path(path)), safe="/")


def _all(results: Sequence[FileResult]) -> list[Finding]:
    return [f for r in results for f in r.findings]


RENDERERS: dict[LintFormat, Callable[[Sequence[FileResult], int | None], str | Text]] = {
    LintFormat.FULL: render_full,
    LintFormat.CONCISE: render_concise,
    LintFormat.JSON: render_json,
    LintFormat.GITHUB: render_github,
    LintFormat.SARIF: render_sarif,
}
"""Every lint format: full is styled Text for a console, the others plain text for stdout. Each takes
the results and the width to break long lines at on a terminal (None when piped); the machine
formats never break a line."""
