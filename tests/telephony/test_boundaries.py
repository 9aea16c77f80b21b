"""Dependencies point one way: libs/common knows no provider library, libs/telephony no web framework and no
service, and libs/telephony's pyproject declares every third-party package it imports."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
COMMON = ROOT / "libs" / "common"
TELEPHONY = ROOT / "libs" / "telephony"


def _imports(source_root: Path) -> dict[str, set[str]]:
    """Absolute module names imported anywhere under ``source_root``, with the files importing them."""
    modules: dict[str, set[str]] = {}
    for path in sorted(source_root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return modules


def _importing(imports: dict[str, set[str]], prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        name: files
        for name, files in imports.items()
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)
    }


def test_common_imports_no_provider_library_or_service() -> None:
    forbidden = ("callbridge.telephony", "callbridge.webhooks", "callbridge.media", "callbridge.devkit")
    assert _importing(_imports(COMMON / "src"), forbidden) == {}


def test_telephony_imports_no_web_framework_or_service() -> None:
    forbidden = ("starlette", "fastapi", "callbridge.webhooks", "callbridge.media", "callbridge.devkit")
    assert _importing(_imports(TELEPHONY / "src"), forbidden) == {}


def _distribution_of(module: str, candidates: list[str]) -> str:
    """The distribution providing ``module``: for a namespace package shared by several (``opentelemetry``),
    the one whose files hold the module's own directory or file."""
    if len(candidates) == 1:
        return candidates[0]
    path = module.replace(".", "/")
    for name in candidates:
        files = importlib.metadata.distribution(name).files or []
        if any(str(f) in (f"{path}/__init__.py", f"{path}.py") for f in files):
            return name
    return candidates[0]


def test_telephony_declares_exactly_the_third_party_packages_it_imports() -> None:
    installed = importlib.metadata.packages_distributions()
    imported: set[str] = set()
    for module in _imports(TELEPHONY / "src"):
        top = module.split(".")[0]
        if top == "callbridge":
            name = module.split(".")[1]
            if name != "telephony":
                imported.add(canonicalize_name(f"callbridge-{name}"))
        elif top not in sys.stdlib_module_names and top != "__future__":
            imported.add(canonicalize_name(_distribution_of(module, installed[top])))
    project = tomllib.loads((TELEPHONY / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}
    assert imported - declared == set(), "imported by libs/telephony but not in its pyproject.toml"
    assert declared - imported == set(), "declared in libs/telephony/pyproject.toml but imported nowhere"
