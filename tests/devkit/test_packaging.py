"""The devkit's pyproject declares every third-party package its code imports, and nothing else.

An undeclared import works in this repository's virtualenv (every package is installed there) and fails for
a user who installs callbridge-devkit alone; a declared package nothing imports is dead weight for them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DEVKIT = Path(__file__).resolve().parents[2] / "libs" / "devkit"


def _imported_top_levels(source_root: Path) -> dict[str, set[str]]:
    """Dotted module names imported anywhere in ``source_root`` (absolute imports only), with the files."""
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
                modules.setdefault(name, set()).add(path.name)
    return modules


def _distribution_of(module: str, installed: Mapping[str, list[str]]) -> str | None:
    """The distribution a module comes from; None for the standard library and the devkit itself."""
    parts = module.split(".")
    if parts[0] == "callbridge":
        # One namespace package over all callbridge's distributions: callbridge.<name> is callbridge-<name>.
        return None if parts[1] == "devkit" else canonicalize_name(f"callbridge-{parts[1]}")
    if parts[0] in sys.stdlib_module_names or parts[0] == "__future__":
        return None
    distributions = installed.get(parts[0])
    assert distributions, f"{module} is imported by the devkit but no installed distribution provides it"
    return canonicalize_name(distributions[0])


def test_devkit_declares_exactly_the_third_party_packages_it_imports() -> None:
    installed = importlib.metadata.packages_distributions()
    imported: dict[str, set[str]] = {}
    for module, files in _imported_top_levels(DEVKIT / "src").items():
        distribution = _distribution_of(module, installed)
        if distribution is not None:
            imported.setdefault(distribution, set()).update(files)
    project = tomllib.loads((DEVKIT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    # A requirement for other Pythons (audioop-lts on 3.13+) is checked on those Pythons.
    declared = {
        canonicalize_name(req.name) for req in requirements if req.marker is None or req.marker.evaluate()
    }

    undeclared = {name: sorted(files) for name, files in imported.items() if name not in declared}
    unused = declared - set(imported)
    assert undeclared == {}, "imported by these devkit modules but not in libs/devkit/pyproject.toml"
    assert unused == set(), "declared in libs/devkit/pyproject.toml but imported by no devkit module"
