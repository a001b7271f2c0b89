"""The input-format registry: every command asks it, so a new format is one class and one line.

The format added here reads a toy "arrow" notation (``conv 16 k3 -> relu -> flatten -> fc 10``);
it exists only in this test. summary, lint, fix-fc --write and sizes take it as they take the
shipped formats, with no other code changed.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

import pytest

from cnninspect import inputs
from cnninspect.errors import Location, SpecError
from cnninspect.inputs import FORMATS, InputFormat, ReadOptions, format_for, format_named, format_of
from cnninspect.inputs.splice import Edit
from cnninspect.spec.model import ModelSpec
from cnninspect.spec.validate import make_layer
from tests.conftest import cli

TOKEN = re.compile(r"(conv|fc) (\d+)(?: k(\d+))?(?: in (\d+))?|relu|flatten")


class ArrowFormat(InputFormat):
    name = "arrow"
    title = "arrow file"
    suffixes: ClassVar[tuple[str, ...]] = (".arrow",)
    input_hint = "a first line 'input CxHxW'"

    def recognises(self, text: str, label: str) -> bool:
        return text.startswith("input ")

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        first, _, body = text.partition("\n")
        sample = tuple(int(n) for n in first.split()[1].split("x"))
        layers = []
        for index, match in enumerate(TOKEN.finditer(body)):
            where = Location(label, 2, match.start() + 1)
            kind, count, kernel, fan_in = match.groups()
            args: dict[str, object] = {}
            places = {}
            if kind == "conv":
                type_name, args = "Conv2d", {"out_channels": int(count), "kernel_size": int(kernel or 3)}
            elif kind == "fc":
                type_name, args = "Linear", {"in_features": int(fan_in), "out_features": int(count)}
                places["in_features"] = Location(label, 2, match.start(4) + 1)
            else:
                type_name = {"relu": "ReLU", "flatten": "Flatten"}[match.group(0)]
            layers.append(make_layer(index, None, type_name, args, where, places, where, ()))
        if not layers:
            raise SpecError("no layers", Location(label, 2, 1))
        return ModelSpec("arrow", sample, tuple(layers), label, format=self.name, input_hint=self.input_hint)

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        body = text.index("\n") + 1
        edits = []
        for before, after in zip(original.layers, intended.layers):
            old, new = before.args.get("in_features"), after.args.get("in_features")
            if old != new:
                start = body + before.where("in_features").col - 1
                edits.append(Edit(start, start + len(str(old)), str(new)))
        return edits


@pytest.fixture
def arrow(monkeypatch):
    """The registry with the arrow format in it: the one line a real format adds."""
    fmt = ArrowFormat()
    monkeypatch.setattr(inputs, "FORMATS", (*FORMATS, fmt))
    monkeypatch.setattr(inputs, "FILE_SUFFIXES", (*inputs.FILE_SUFFIXES, ".arrow"))
    import cnninspect.discovery

    monkeypatch.setattr(cnninspect.discovery, "FILE_SUFFIXES", inputs.FILE_SUFFIXES)
    return fmt


def test_the_registry_finds_each_shipped_format_by_its_text():
    assert format_of("[net]\nwidth=8\n", "x.cfg").name == "darknet"
    assert format_of("layers:\n  - ReLU\n", "x.yaml").name == "spec"
    assert format_of("model:\n  _target_: torch.nn.ReLU\n", "x.yaml").name == "hydra"
    assert format_of("name: ci\non: push\n", "ci.yaml") is None  # not a model: lint skips it
    assert format_for("width=8\n", "broken.cfg").name == "darknet"  # its ending says what it should be
    assert format_for("name: x\n", "x.yaml").name == "spec"
    assert format_named("flags").title == "--layers string"


def test_a_format_added_to_the_registry_works_in_every_command(arrow, tmp_path):
    path = tmp_path / "net.arrow"
    # 3×8×8 → conv 4 k3 → 4×6×6 = 144 features, and fc (column 33) says 2048
    path.write_text("input 3x8x8\nconv 4 k3 -> relu -> flatten -> fc 10 in 2048\n")
    summary = cli("summary", str(path), "--format", "json")
    assert summary.exception is None or isinstance(summary.exception, SystemExit)
    data = json.loads(summary.stdout)
    assert [layer["output_shape"] for layer in data["layers"]] == [[1, 4, 6, 6], [1, 4, 6, 6], [1, 144], [1, 10]]
    assert [f["code"] for f in data["findings"]] == ["CNN201"] and summary.exit_code == 1

    lint = cli("lint", str(tmp_path), "--format", "concise")
    assert f"{path}:2:33: CNN201 layer 3: in_features is 2048 but it receives 144" in lint.stdout
    assert lint.exit_code == 1

    fixed = cli("fix-fc", str(path), "--write")
    assert fixed.exit_code == 0, fixed.stderr
    assert path.read_text() == "input 3x8x8\nconv 4 k3 -> relu -> flatten -> fc 10 in 144\n"
    assert cli("lint", str(path)).exit_code == 0


def test_a_file_that_gives_no_input_is_told_how_its_format_writes_it(arrow, tmp_path):
    spec = ArrowFormat().read("input 3x8x8\nrelu\n", "n.arrow", ReadOptions())
    from dataclasses import replace

    from cnninspect.spec.overrides import Overrides, apply_overrides

    with pytest.raises(SpecError, match="add a first line 'input CxHxW' or pass --input"):
        apply_overrides(replace(spec, input=()), Overrides())


SCALED = """nc: 2
scales:
  a: [1.0, 0.25, 64]
  b: [1.0, 0.5, 64]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
head:
  - [-1, 1, Conv, [64, 1, 1]]
"""


def test_scale_chooses_which_of_a_files_scales_is_built(tmp_path):
    # Conv(3, c, 3) + BN: c·27 weights + 2c; Conv(c, c, 1) + BN: c·c + 2c; c = ceil(min(64, 64)·w / 8)·8
    path = tmp_path / "net.yaml"
    path.write_text(SCALED)

    def params(*options: str) -> int:
        result = cli("summary", str(path), "--engine", "analytic", "--format", "json", *options)
        assert result.exit_code == 0, result.stderr
        return int(json.loads(result.stdout)["totals"]["params"])

    def expected(c: int) -> int:
        return (c * 27 + 2 * c) + (c * c + 2 * c)

    assert params("--scale", "a") == expected(16)  # 64 · 0.25 = 16
    assert params("--scale", "b") == expected(32)  # 64 · 0.5 = 32
    assert params() == expected(16)  # no letter in the name: the first scale
    lint = cli("lint", str(path), "--scale", "b", "--format", "concise")
    assert lint.exit_code == 0, lint.stdout
