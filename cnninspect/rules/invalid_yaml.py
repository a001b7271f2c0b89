"""CNN101 invalid-yaml: the file cannot be read as safe YAML."""

from __future__ import annotations

from cnninspect.errors import YamlError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import spec_text

INVALID_YAML = Rule(
    code="CNN101",
    name="invalid-yaml",
    severity=Severity.ERROR,
    summary="The file is not readable, well-formed, safe YAML.",
    explanation="""Unreadable files, syntax errors, duplicate keys, YAML tags, alias floods and files over
    the size limit are refused before anything is built.""",
    failing=Example(spec_text("{type: Conv2d, out_channels: 16, kernel_size: 3")),
    passing=Example(spec_text("{type: Conv2d, out_channels: 16, kernel_size: 3}")),
    reports=(YamlError,),
)
