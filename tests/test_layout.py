"""The package layout: everything installs under `irrmap`, imports flow core <- stages <- shell with no
cycles, a user's own `training.py` & co. cannot shadow a stage, and the Python API example runs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("suitability", "training", "models", "mapping", "evaluation")
GENERIC = set(STAGES)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in STAGES:
        parts = ["irrmap", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_files() -> list[Path]:
    files = list((ROOT / "irrmap").rglob("*.py"))
    for s in STAGES:
        files += list((ROOT / s).rglob("*.py"))
    return sorted(files)


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute module names imported by a file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "irrmap" or len(parts) < 2:
        return None
    return {"core": "core", "sources": "core", "app": "shell"}.get(parts[1], "stage" if parts[1] in STAGES else None)


def test_no_generic_top_level_imports_anywhere():
    """grep -rE '^(from|import) (training|models|mapping|evaluation|suitability)\\b' finds nothing."""
    offenders = []
    for path in [*_package_files(), *ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("docs/*.py")]:
        for name in _imports(path):
            if name.split(".")[0] in GENERIC:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_imports_flow_core_stages_shell():
    rank = {"core": 0, "stage": 1, "shell": 2}
    wrong = []
    for path in _package_files():
        mine = _layer(_module_name(path))
        if mine is None:
            continue
        for name in _imports(path):
            theirs = _layer(name)
            if theirs is not None and rank[theirs] > rank[mine]:
                wrong.append(f"{_module_name(path)} ({mine}) imports {name} ({theirs})")
    assert wrong == []


def test_stage_modules_never_import_the_runner():
    for path in (ROOT / "irrmap" / "app" / "stages").glob("*.py"):
        assert not any(n.startswith("irrmap.app.pipeline") for n in _imports(path)), path


def test_no_import_cycles_at_module_level():
    """Module-level imports between irrmap modules form a DAG (function-level lazy imports excluded)."""
    modules = {_module_name(p): p for p in _package_files()}
    graph = {}
    for mod, path in modules.items():
        deps = set()
        for name in _imports(path, top_level_only=True):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != mod and not mod.startswith(name + "."):  # importing one's own package is fine
                deps.add(name)
        graph[mod] = deps
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m, stack):
        state[m] = 1
        for d in graph.get(m, ()):
            if state.get(d) == 1:
                cycle.extend([*stack, m, d])
                return True
            if state.get(d) is None and visit(d, [*stack, m]):
                return True
        state[m] = 2
        return False

    for m in graph:
        if state.get(m) is None and visit(m, []):
            break
    assert cycle == []


def test_wheel_installs_only_irrmap(tmp_path):
    """`pip install .` would put only `irrmap` (and its metadata) into site-packages."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("irrmap-*.whl"))
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"irrmap"}
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "irrmap").rglob("*.py") if "__pycache__" not in p.parts}
    for s in STAGES:
        expected |= {f"irrmap/{p.relative_to(ROOT)}" for p in (ROOT / s).rglob("*.py") if "__pycache__" not in p.parts}
    assert expected - names == set()  # every module of the tree is in the wheel, stage folders under irrmap/


def _shadowed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "analyst"
    folder.mkdir()
    for name in [*STAGES, "demo"]:
        (folder / f"{name}.py").write_text(f"raise ImportError('the analyst\\'s own {name}.py was imported')\n")
    return folder


@pytest.mark.slow
def test_run_from_a_folder_holding_training_models_mapping_evaluation_suitability_py(tmp_path):
    folder = _shadowed_folder(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(folder)}
    gen = subprocess.run([sys.executable, "-m", "irrmap", "-q", "demo", "d", "--rows", "96", "--cols", "128", "--seed", "4"],
                         cwd=folder, env=env, capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    run = subprocess.run([sys.executable, "-m", "irrmap", "-q", "run", "d/config.toml"], cwd=folder, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "evaluation" in run.stdout and (folder / "d" / "output" / "evaluation" / "report.html").exists()


@pytest.mark.slow
def test_python_api_example_runs_the_demo(tmp_path):
    folder = _shadowed_folder(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(folder)}
    res = subprocess.run([sys.executable, str(ROOT / "docs" / "api_example.py"), "d", "--rows", "96", "--cols", "128"],
                         cwd=folder, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "config OK" in res.stdout and "irrigated:" in res.stdout
    irrigated = float(res.stdout.split("irrigated:")[1].split("km2")[0])
    assert irrigated > 0
