"""``rules``: the registry as a list, one rule explained, and the generated docs/rules.md."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from cnninspect.formats import table
from cnninspect.formats.table import Column, Row
from cnninspect.formats.wrap import hang, hang_lines
from cnninspect.rules import RULES, Rule

MIN_SUMMARY = 12
"""Fewest columns the summary keeps on a narrow terminal (the list then runs past the edge)."""


def render_list(rules: Sequence[Rule], width: int | None = None) -> Text:
    """Code, name, severity and summary of each rule; at a ``width`` (a terminal), a long summary
    breaks at words under itself and the rule under the header spans the table."""
    columns = [Column("Code"), Column("Name"), Column("Severity"), Column("What it flags")]
    rows = [Row([r.code, r.name, r.severity.value, r.summary]) for r in rules]
    if width is None:
        return table.render(columns, rows)
    sizes = table.widths(columns, rows)
    indent = sum(sizes[:3]) + 3 * len(table.GAP)
    sizes[3] = min(sizes[3], max(width - indent, MIN_SUMMARY))
    text = Text()
    header = table.render(columns, [], sizes).plain.split("\n")[0]
    text.append(header + "\n", style="bold")
    text.append(table.RULE * min(width, indent + sizes[3]) + "\n")
    for row in rows:
        first, *more = hang(row.cells[3], sizes[3], 0).split("\n")
        text.append_text(table.row_text(Row([*row.cells[:3], first]), columns, sizes))
        text.append("".join(f"\n{' ' * indent}{line}" for line in more) + "\n")
    return text


def render_rule(rule: Rule, width: int | None = None) -> Text:
    """One rule: its explanation, a spec that breaks it and the same spec fixed; at a ``width``
    (a terminal), the prose breaks at words and a spec's long one-line mapping at its commas, as
    YAML reads it the same (``{a: 1,`` then ``b: 2}`` under it)."""
    text = Text()
    text.append(f"{rule.code} {rule.name} ({rule.severity.value})\n", style="bold")
    prose = f"{rule.summary}\n\n{rule.explanation}"
    text.append(f"{prose if width is None else hang_lines(prose, width, 0)}\n")
    for title, example in (("Failing", rule.failing), ("Passing", rule.passing)):
        options = f" (with {' '.join(example.options)})" if example.options else ""
        text.append(f"\n{title}{options}:\n", style="bold")
        lines = example.spec.splitlines()
        if width is not None and example.suffix != ".cfg":
            lines = [piece for line in lines for piece in _flow_lines(line, width - EXAMPLE_INDENT)]
        text.append("".join(f"{' ' * EXAMPLE_INDENT}{line}\n" for line in lines))
    return text


EXAMPLE_INDENT = 4


def _flow_lines(line: str, width: int) -> list[str]:
    """A YAML line ending in a one-line ``{…}`` mapping, broken after its top-level commas so that
    each piece fits ``width``; the pieces after the first are indented under its first key."""
    start = line.find("{")
    if len(line) <= width or start < 0 or not line.endswith("}"):
        return [line]
    items, depth, quote, begin = [], 0, "", start + 1
    for i, char in enumerate(line[start + 1 : -1], start=start + 1):
        if quote:
            quote = "" if char == quote else quote
            continue
        quote = char if char in "\"'" else ""
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            items.append(line[begin : i + 1].strip())
            begin = i + 1
    items.append(line[begin:-1].strip() + "}")
    pieces, indent = [line[: start + 1] + items[0]], " " * (start + 1)
    for item in items[1:]:
        if len(pieces[-1]) + 1 + len(item) <= width:
            pieces[-1] += " " + item
        else:
            pieces.append(indent + item)
    return pieces


def rules_markdown() -> str:
    """docs/rules.md: every rule with its explanation and examples, generated from the registry."""
    lines = [
        "# Rules",
        "",
        "Generated from the registry (`cnninspect/rules/`) by `cnninspect rules --format markdown`;",
        "a test checks that this file is what the registry generates. `cnninspect rules CODE` shows one.",
        "",
        "Codes are grouped by hundreds: **CNN1xx** the input is not a valid spec (every command but",
        "lint stops with exit 2; lint reports it for that file and goes on), **CNN2xx** size",
        "errors (exit 1), **CNN3xx** warnings (exit 0 unless `lint --fail-on warning`).",
        "",
        "| code | name | severity | fix-fc | what it flags |",
        "|---|---|---|---|---|",
        *(
            f"| [{r.code}](#{r.code.lower()}-{r.name}) | {r.name} | {r.severity.value} | "
            f"{'writes the fix' if r.fixable else ''} | {r.summary} |"
            for r in RULES
        ),
    ]
    for rule in RULES:
        lines += [
            "",
            f"## {rule.code} {rule.name}",
            "",
            f"*{rule.severity.value}* — {rule.summary}",
            "",
            rule.explanation,
        ]
        for title, example in (("Failing", rule.failing), ("Passing", rule.passing)):
            options = f" (with `{' '.join(example.options)}`)" if example.options else ""
            language = "ini" if example.suffix == ".cfg" else "yaml"
            lines += ["", f"{title}{options}:", "", f"```{language}", example.spec.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"
