"""``${…}`` references resolved without OmegaConf: the same values OmegaConf gives, and nothing run.

OmegaConf itself (a test dependency) is the oracle for what a reference means; cnninspect's
resolver must agree with it on every plain reference and refuse every resolver, however written.
"""

from __future__ import annotations

import os
import time

import pytest

from cnninspect.errors import CnnInspectError
from cnninspect.inputs.interpolation import MAX_CHARS, resolve
from cnninspect.spec.yamldoc import read_document
from tests.conftest import cli

AGREE = [
    "w: 16\nc: ${w}",
    "m: {w: 16, conv: {out: '${..w}', same: '${.out}'}}",
    "m: {w: 16}\nx: ${m.w}",
    "l: [3, 5, 7]\na: ${l[1]}\nb: ${l.2}",
    "w: 16\nname: conv_${w}_x",
    "w: 16\nt: ${w}${w}",
    "f: 0.5\nb: true\nn: null\ns: 'v=${f} ${b} ${n}'",
    "w: 16\nlit: '\\${w} stays'",
    "a: {b: {c: 4}}\nd: ${a}\ne: ${a.b}",
    "x: ${y}\ny: ${z}\nz: 9",
]


@pytest.mark.parametrize("text", AGREE)
def test_plain_references_resolve_as_omegaconf_resolves_them(text):
    omegaconf = pytest.importorskip("omegaconf")
    document = read_document(text, "c.yaml")
    expected = omegaconf.OmegaConf.to_container(omegaconf.OmegaConf.create(text), resolve=True)
    assert resolve(document, document.root) == expected


@pytest.mark.parametrize(
    "value",
    [
        "${oc.env:SECRET}",
        "${oc.select:x}",
        "${${r}.env:SECRET}",
        "${${r}.select:x}",
        "x_${${r}}",
        "${ oc.env : SECRET }",
        '${oc.decode:"${x}"}',
    ],
)
def test_no_resolver_runs_however_its_name_is_built(value, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET", "hunter2")
    path = tmp_path / "m.yaml"
    path.write_text(
        "# cnninspect: input 3x8x8\nr: oc\nx: 1\n"
        f"v: '{value}'\n"
        "model:\n  _target_: torch.nn.Sequential\n  _args_:\n"
        "    - {_target_: torch.nn.Conv2d, in_channels: 3, out_channels: 4, kernel_size: '${v}'}\n"
    )
    for args in (("summary", str(path)), ("lint", str(path), "--format", "json")):
        result = cli(*args)
        assert "hunter2" not in result.stdout + result.stderr
        assert result.exit_code in (1, 2)
    assert f"{path}:4:4:" in cli("summary", str(path)).stderr


def test_a_reference_flood_is_refused_quickly_in_one_bounded_line(tmp_path):
    # Each key repeats the one before ten times: 10**12 characters if expanded.
    lines = ["k0: xxxxxxxxxx"] + [f"k{i}: '" + f"${{k{i - 1}}}" * 10 + "'" for i in range(1, 13)]
    path = tmp_path / "flood.yaml"
    path.write_text(
        "# cnninspect: input 3x8x8\n" + "\n".join(lines) + "\nmodel:\n  _target_: torch.nn.Sequential\n"
        "  _args_:\n    - {_target_: torch.nn.ReLU, inplace: '${k12}'}\n"
    )
    started = time.perf_counter()
    result = cli("lint", str(path), "--format", "concise")
    assert time.perf_counter() - started < 30  # far from the 25 s and 4.8 GB it once took; not a benchmark
    line = result.stdout.strip()
    assert f"over {MAX_CHARS:,} characters" in line and len(line) < 400 and "\n" not in line
    assert result.exit_code == 1


def test_relative_references_may_not_climb_above_the_file():
    document = read_document("a: ${...x}", "c.yaml")
    with pytest.raises(CnnInspectError, match="climbs above the top of the file"):
        resolve(document, document.root)


def test_the_environment_is_never_read(monkeypatch):
    calls = []
    real = os.environ.get
    monkeypatch.setattr(os.environ, "get", lambda *a: calls.append(a) or real(*a))
    document = read_document("a: ${oc.env:HOME}", "c.yaml")
    with pytest.raises(CnnInspectError):
        resolve(document, document.root)
    assert calls == []
