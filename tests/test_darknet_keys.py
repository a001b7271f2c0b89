"""Keys darknet never reads: a CNN304 warning at the key, as darknet's own "Unused field", with
the key it may have meant; hostile keys escaped and cut short. The table of the keys darknet reads
(cnninspect/inputs/darknet/keys.py) against the reader's own sections and options."""

from __future__ import annotations

import json

import pytest
from conftest import cli, load

from cnninspect.engines.analytic import infer_shapes
from cnninspect.inputs.darknet.keys import EVERY_LAYER, KEYS
from cnninspect.inputs.darknet.read import LAYERS, NOT_MODELLED
from cnninspect.rules import find_problems

NET = "[net]\nwidth=32\nheight=32\nchannels=3\n\n"  # lines 1-5
TYPO = NET + "[convolutional]\nfilter=32\nsize=3\npad=1\nactivation=leaky\n"  # filter= at line 7


def write(tmp_path, text: str):
    path = tmp_path / "t.cfg"
    path.write_text(text)
    return path


def findings_of(path) -> list[tuple[int, int, str]]:
    return [(f.location.line, f.location.col, f.message) for f in find_problems(infer_shapes(load(path)))]


def test_a_typo_is_one_warning_at_the_key_with_the_key_it_meant(tmp_path):
    path = write(tmp_path, TYPO)
    trace = infer_shapes(load(path))
    assert trace.records[0].output_shape == (1, 1, 32, 32)  # darknet's default filters=1: the typo's effect
    result = cli("lint", str(path), "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert result.exit_code == 0  # a warning: lint fails only with --fail-on warning
    assert (finding["code"], finding["severity"], finding["line"], finding["col"]) == ("CNN304", "warning", 7, 1)
    assert finding["message"] == (
        "[convolutional] has no key filter: darknet ignores it (\"Unused field\"); did you mean 'filters'?"
    )
    assert cli("lint", str(path), "--fail-on", "warning").exit_code == 1


def test_summary_and_lint_show_it_as_they_show_the_other_notes(tmp_path):
    path = write(tmp_path, TYPO + "\n[convolutional]\nfilters=8\nsize=1\nfilters=4\n")  # filters=8 at line 13, =4 at 15
    summary = cli("summary", str(path), "--engine", "analytic")
    assert summary.exit_code == 0
    lines = [line for line in summary.stdout.splitlines() + summary.stderr.splitlines() if " CNN304 " in line]
    assert lines == [
        f'{path}:7:1: CNN304 [convolutional] has no key filter: darknet ignores it ("Unused field"); did you '
        "mean 'filters'?",
        f"{path}:15:1: CNN304 filters is given twice in this [convolutional]: darknet reads the first, filters=8 "
        "at line 13, and ignores filters=4 here; delete the line it ignores",
    ]
    full = cli("lint", str(path)).stdout
    assert "7:1  warning  CNN304  [convolutional] has no key filter: darknet ignores it" in full


def test_a_key_indented_is_placed_at_the_key_and_one_not_read_twice_is_one_note(tmp_path):
    path = write(tmp_path, NET + "[maxpool]\nsize=2\n  sze=3\nstride=2\nsze=5\n")
    assert findings_of(path) == [
        (8, 3, "[maxpool] has no key sze: darknet ignores it (\"Unused field\"); did you mean 'size'?")
    ]


def test_net_keys_are_darknets_and_it_ignores_others_without_a_word(tmp_path):
    path = write(tmp_path, "[net]\nwidth=32\nheight=32\nchannels=3\nsubdivision=8\nmax_epochs=3\n\n[avgpool]\n")
    assert findings_of(path) == [
        (5, 1, "[net] has no key subdivision: darknet ignores it silently; did you mean "
         "'subdivisions'?"),
        (6, 1, "[net] has no key max_epochs: darknet ignores it silently; did you mean "
         "'max_batches'?"),
    ]  # fmt: skip


def test_a_key_no_darknet_reads_nor_resembles_says_what_to_do(tmp_path):
    path = write(tmp_path, NET + "[upsample]\nstride=2\ncolour=blue\n=5\n")
    assert findings_of(path) == [
        (8, 1, "[upsample] has no key colour: darknet ignores it (\"Unused field\"); delete the line, or name a "
         "key darknet reads here"),
        (9, 1, "[upsample] has a value with no key before its =: darknet ignores it (\"Unused field\"); write the "
         "key"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "section",
    [
        "[convolutional]\nfilters=8\nsize=1\ncoordconv=0\nwait_stream=0\ndilation=1\n",  # AlexeyAB's keys
        "[convolutional]\nfilters=8\nsize=1\nflipped=0\ndot=0\nsmooth=0\ntruth=0\n",  # pjreddie's, and every layer's
        "[reorg]\nstride=2\nextra=0\n",  # pjreddie's reorg reads extra=, AlexeyAB's does not
        "[dropout]\nprobability=0.1\ndropblock=1\n",
    ],
)
def test_a_key_either_darknet_reads_is_quiet(tmp_path, section):
    assert findings_of(write(tmp_path, NET + section)) == []


def test_blanks_inside_a_key_go_as_darknet_strips_them(tmp_path):
    # darknet's strip() removes every space and tab of a line: "batch _normalize" is batch_normalize
    path = write(tmp_path, NET + "[convolutional]\nbatch _normalize=1\nfil\tters=8\nsize=1\n")
    trace = infer_shapes(load(path))
    assert trace.total_params == 8 * 3 + 2 * 8  # BatchNorm's scale and shift, no conv bias
    assert find_problems(trace) == []


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("k" * 5000, "k" * 40 + "…"),
        ("x\x1b]0;title\x07y", "x\\x1b]0;title\\x07y"),
        ("a[red]b[/red]", "a[red]b[/red]"),  # Rich markup, printed as written
        ("a\u202eb", "a\\u202eb"),
    ],
)
def test_a_hostile_key_is_escaped_and_cut_short(tmp_path, key, shown):
    path = write(tmp_path, NET + f"[avgpool]\n{key}=1\n")
    result = cli("lint", str(path))
    assert result.exit_code == 0
    assert f"CNN304  [avgpool] has no key {shown}: darknet ignores it" in result.stdout
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and len(result.stdout) < 1000
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    raw = key[:40] + ("…" if len(key) > 40 else "")  # cut short, and escaped by JSON itself
    assert finding["message"].startswith(f"[avgpool] has no key {raw}: ")


def test_a_key_darknet_ignores_in_a_section_is_not_refused_as_not_modelled(tmp_path):
    # AlexeyAB's [local_avgpool] sets maxpool_depth, out_channels and antialiasing itself, as [reorg3d]
    # has no extra= or flatten=: darknet ignores them there, and so does cnninspect, with a note
    body = "[local_avgpool]\nsize=2\nstride=2\nmaxpool_depth=1\n\n[reorg3d]\nstride=2\nflatten=1\n"
    path = write(tmp_path, NET + body)
    trace = infer_shapes(load(path))
    assert trace.records[-1].output_shape == (1, 3 * 2 * 2, 8, 8)  # 32 → 16 (pool) → 8 (reorg), channels × 4
    assert [(line, message.split(":")[0]) for line, _, message in findings_of(path)] == [
        (9, "[local_avgpool] has no key maxpool_depth"),
        (13, "[reorg3d] has no key flatten"),
    ]


def test_the_table_has_every_section_the_reader_reads_and_every_key_it_refuses():
    assert set(KEYS) == {"net", *LAYERS}
    assert all(KEYS[name] >= EVERY_LAYER for name in LAYERS)
    for section, keys in NOT_MODELLED.items():
        assert set(keys) <= KEYS[section], section  # a key darknet ignores is a note, never a refusal
    # the keys read.py reads (darknet's default where it has one)
    for section, keys in {
        "net": {"width", "height", "channels"},
        "convolutional": {"filters", "size", "stride", "pad", "padding", "groups", "dilation", "batch_normalize",
                          "activation", "share_index"},
        "local": {"filters", "size", "stride", "pad", "activation"},
        "maxpool": {"size", "stride", "padding"},
        "route": {"layers", "groups", "group_id"},
        "shortcut": {"from", "activation"},
        "yolo": {"classes", "num", "mask", "anchors"},
        "Gaussian_yolo": {"classes", "num", "mask", "anchors"},
        "region": {"classes", "coords", "num"},
        "detection": {"side", "num", "coords", "classes"},
        "crop": {"crop_height", "crop_width"},
        "reorg": {"stride", "extra"},
        "connected": {"output", "batch_normalize", "activation"},
        "dropout": {"probability"},
        "upsample": {"stride"},
        "scale_channels": {"from"},
        "sam": {"from"},
    }.items():  # fmt: skip
        assert keys <= KEYS[section], section


@pytest.mark.parametrize("left_out", ["width", "height", "channels"])
def test_a_net_without_its_input_size_is_refused_unless_input_gives_it(tmp_path, left_out):
    # darknet stops on it ("No input parameters supplied"); cnninspect once assumed 416
    net = {"width": "width=64", "height": "height=32", "channels": "channels=3"}
    del net[left_out]
    cfg = tmp_path / "net.cfg"
    cfg.write_text("# no input\n[net]\n" + "\n".join(net.values()) + "\n\n[convolutional]\nfilters=8\nsize=3\n")
    refused = cli("summary", str(cfg))
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"cnninspect: error: {cfg}:2:1: the spec gives no input shape; add width=, height= and channels= in "
        "[net] or pass --input 3x32x32\n"
    )
    given = cli("summary", str(cfg), "--input", "3x20x20", "--format", "json")
    assert given.exit_code == 0
    # size=3, pad 0: 20 − 3 + 1 = 18
    assert json.loads(given.stdout)["layers"][-1]["output_shape"][-2:] == [18, 18]
