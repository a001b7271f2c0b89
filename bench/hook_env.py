"""The pre-commit hooks' cost without torch: the size of their environment and their first run.

pre-commit installs a `language: python` hook into a fresh virtualenv with `pip install .` of the
hook repository plus the hook's `additional_dependencies`; hooks with the same dependencies share
one environment. This builds the environments the same way from this checkout (a fresh venv, a
fresh pip cache, no torch anywhere), fails if pip pulled torch or an `nvidia-*` package, then runs
every hook's entry on the files its `types`/`files` filter passes among `git ls-files`, as
`pre-commit run --all-files` does. The first run's time is the environments' build plus the hooks.

When pre-commit itself is installed (`make bench` installs it), it also runs the real thing on a
clone of this repository at HEAD, with a fresh PRE_COMMIT_HOME and the three hooks from HEAD.
Run with `python bench/hook_env.py`; it prints a Markdown table.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
YAML_SUFFIXES = (".yaml", ".yml")  # what pre-commit's `types: [yaml]` matches
FORBIDDEN = re.compile(r"^(torch|nvidia-.*|triton)$", re.IGNORECASE)
"""Packages a lint hook must never install: torch and the CUDA build's companions."""


def plural(count: int, word: str) -> str:
    """``1 environment``, ``2 environments``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def disk_mib(folder: Path) -> float:
    """Disk space the files under ``folder`` take, in MiB."""
    blocks = sum(path.lstat().st_blocks for path in folder.rglob("*"))
    return blocks * 512 / 2**20


def run(command: list[str], **kwargs: object) -> float:
    """Run ``command`` (output discarded); its wall time in seconds. Exit 0 or 1 (findings) only."""
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode not in (0, 1):
        raise SystemExit(f"failed: {shlex.join(command)}\n{result.stderr}")
    return time.perf_counter() - start


def installed(python: Path) -> list[str]:
    """The distribution names installed in the environment of ``python``."""
    code = "import importlib.metadata as m; print('\\n'.join(sorted(d.metadata['Name'] for d in m.distributions())))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()


def no_torch(python: Path, where: str) -> list[str]:
    """The packages installed by ``python``'s environment; stops the benchmark if torch is among them."""
    names = installed(python)
    pulled = [name for name in names if FORBIDDEN.match(name)]
    find = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    if pulled or subprocess.run([str(python), "-c", find]).returncode:
        raise SystemExit(f"{where}: pip installed {', '.join(pulled) or 'torch'}; the hooks must not need torch")
    return names


def hooks() -> list[dict[str, object]]:
    """The hooks this repository ships, as .pre-commit-hooks.yaml declares them."""
    return list(YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text()))


def files_for(hook: dict[str, object], tracked: list[str]) -> list[str]:
    """The tracked files pre-commit passes ``hook`` (its `types: [yaml]` and `files:` filters)."""
    chosen = tracked
    if "yaml" in hook.get("types", []):  # type: ignore[operator]
        chosen = [f for f in chosen if f.endswith(YAML_SUFFIXES)]
    if "files" in hook:
        pattern = re.compile(str(hook["files"]))
        chosen = [f for f in chosen if pattern.search(f)]
    return chosen


def emulated(work: Path) -> Iterator[str]:
    """Table rows: pre-commit's install, done by hand, and every hook run on the repository's files."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    source = work / "source"  # the tracked files as they are on disk, so pip builds nothing inside the checkout
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, source / name)
    environments: dict[tuple[str, ...], Path] = {}
    env = {**os.environ, "PIP_CACHE_DIR": str(work / "pip-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    build = 0.0
    for hook in hooks():
        extra = tuple(str(d) for d in hook.get("additional_dependencies", []))  # type: ignore[attr-defined]
        if extra in environments:
            continue
        venv = environments[extra] = work / f"py_env-{len(environments)}"
        build += run([sys.executable, "-m", "venv", str(venv)], env=env)
        build += run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source), *extra], env=env)
    sizes = []
    for extra, venv in environments.items():
        names = no_torch(venv / "bin" / "python", venv.name)
        sizes.append(disk_mib(venv))
        label = " + ".join(["`pip install .`", *(f"`{d}`" for d in extra)])
        yield (
            f"| venv, {label} (as pre-commit) | {len(names)} packages, no torch | {sizes[-1]:.0f} MiB | — | — | — |"
        )
    runs = 0.0
    for hook in hooks():
        extra = tuple(str(d) for d in hook.get("additional_dependencies", []))  # type: ignore[attr-defined]
        chosen = files_for(hook, tracked)
        if chosen:
            bin_dir = environments[extra] / "bin"
            command = shlex.split(str(hook["entry"]))
            runs += run([str(bin_dir / command[0]), *command[1:], *chosen], cwd=ROOT, env=env)
    yield (
        f"| all {len(hooks())} hooks, {plural(len(environments), 'environment')}, on `git ls-files` | — | "
        f"{sum(sizes):.0f} MiB | {build:.1f} s | {runs:.1f} s | {build + runs:.1f} s |"
    )


def real_pre_commit(work: Path) -> Iterator[str]:
    """Table rows: `pre-commit run --all-files` itself, first run, on a clone at HEAD."""
    if importlib.util.find_spec("pre_commit") is None:
        return
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    clone, home = work / "clone", work / "pre-commit-home"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    ids = "".join(f"      - id: {hook['id']}\n" for hook in hooks())
    config = f"repos:\n  - repo: {ROOT}\n    rev: {head.strip()}\n    hooks:\n{ids}"
    (clone / ".pre-commit-config.yaml").write_text(config)
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_CACHE_DIR": str(work / "pip-cache-2")}
    env.pop("VIRTUAL_ENV", None)
    wall = run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=clone, env=env)
    venvs = sorted(home.glob("repo*/py_env-*"))
    count = sum(len(no_torch(venv / "bin" / "python", venv.name)) for venv in venvs)
    yield (
        f"| `pre-commit run --all-files`, first run (fresh PRE_COMMIT_HOME) | {plural(len(venvs), 'environment')}, "
        f"{count} packages, no torch | {sum(disk_mib(v) for v in venvs):.0f} MiB | — | — | {wall:.1f} s |"
    )


def main() -> None:
    print("| pre-commit hooks without torch | installed | disk | build | hooks | first run |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for rows in (emulated(work), real_pre_commit(work)):
            for row in rows:
                print(row, flush=True)


if __name__ == "__main__":
    main()
