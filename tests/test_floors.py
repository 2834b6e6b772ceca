"""Imports point down: a package imports only packages on lower floors.

`FLOORS` is the architecture's table (docs/ARCHITECTURE.md shows it). Every import counts:
module level, inside functions, under ``TYPE_CHECKING``, and ``importlib.import_module``
with a literal name. ``ragdrop/__init__.py``, the root re-export module, is exempt.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

# Floor -> top-level ragdrop subpackages on it, lowest first. A package may import packages
# on lower floors only; packages on one floor do not import each other.
FLOORS: dict[int, tuple[str, ...]] = {
    0: ("core",),
    1: ("observability",),
    2: ("qdrant_edge",),
    3: ("cache", "embeddings"),
    4: ("node_parsers", "vector_stores"),
    5: ("retrievers", "postprocessors"),
    6: ("evaluation", "pipeline"),
    7: ("server",),
    8: ("cli",),
}
FLOOR_OF: dict[str, int] = {pkg: floor for floor, pkgs in FLOORS.items() for pkg in pkgs}

ROOT = Path(__file__).resolve().parents[1]
# Source directory -> the package name it installs as (pyproject's package-dir).
SOURCES: dict[str, Path] = {"ragdrop": ROOT / "plugin", "ragdrop.retrievers": ROOT / "retrievers"}


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    importer: str
    imported: str
    reason: str

    def __str__(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{where}:{self.line}: {self.importer} imports {self.imported} ({self.reason})"


def module_name(path: Path, sources: dict[str, Path]) -> str:
    """The dotted name ``path`` installs as (the longest matching source directory wins)."""
    for package, directory in sorted(sources.items(), key=lambda kv: -len(kv[0])):
        if path.is_relative_to(directory):
            parts = list(path.relative_to(directory).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise ValueError(f"{path} is under none of {sorted(sources)}")


def top_package(module: str) -> str | None:
    """``ragdrop.<pkg>.x`` -> ``pkg``; None for the root module and for other libraries."""
    parts = module.split(".")
    if parts[0] != "ragdrop" or len(parts) < 2:
        return None
    return parts[1]


def imported_modules(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything ``module`` imports, wherever the import is written."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from ragdrop import cache` imports the subpackage, not the root.
            for alias in node.names:
                yield node.lineno, f"{source}.{alias.name}" if source == "ragdrop" else source
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield node.lineno, first.value


def package_dirs(sources: dict[str, Path]) -> dict[str, Path]:
    """Top-level ragdrop subpackages found on disk, by name."""
    found = {
        child.name: child
        for child in sources["ragdrop"].iterdir()
        if child.is_dir() and (child / "__init__.py").is_file()
    }
    for package, directory in sources.items():
        name = top_package(package)
        if name is not None:
            found[name] = directory
    return found


def unplaced(sources: dict[str, Path], floor_of: dict[str, int]) -> list[str]:
    """Subpackages and root-level modules that have no floor."""
    missing = [f"ragdrop.{name}" for name in package_dirs(sources) if name not in floor_of]
    root = sources["ragdrop"]
    missing += [
        f"ragdrop.{path.stem} ({path.relative_to(root.parent)})"
        for path in root.glob("*.py")
        if path.name != "__init__.py"
    ]
    return sorted(missing)


def violations(sources: dict[str, Path], floor_of: dict[str, int]) -> list[Violation]:
    """Every import of a package on the same or a higher floor, in file and line order."""
    found: list[Violation] = []
    known = set(package_dirs(sources))
    for directory in sources.values():
        for path in sorted(directory.rglob("*.py")):
            module = module_name(path, sources)
            importer = top_package(module)
            if importer is None:  # the root re-export module
                continue
            tree = ast.parse(path.read_bytes(), filename=str(path))
            for line, name in imported_modules(tree, module, path.name == "__init__.py"):
                parts = name.split(".")
                if parts[0] != "ragdrop":
                    continue
                # `ragdrop.X` is a subpackage when X is one on disk, else a root re-export.
                is_package = len(parts) > 2 or (len(parts) == 2 and parts[1] in known)
                imported = parts[1] if is_package else None
                if imported == importer:
                    continue
                if imported is None:
                    reason = "the root re-export module; import from the subpackage"
                elif importer not in floor_of or imported not in floor_of:
                    reason = "no floor in tests/test_floors.py FLOORS"
                elif floor_of[imported] > floor_of[importer]:
                    reason = f"floor {floor_of[importer]} imports floor {floor_of[imported]}"
                elif floor_of[imported] == floor_of[importer]:
                    reason = f"both on floor {floor_of[importer]}"
                else:
                    continue
                found.append(Violation(path, line, module, name, reason))
    return sorted(found, key=lambda v: (str(v.path), v.line))


def test_every_package_has_a_floor() -> None:
    missing = unplaced(SOURCES, FLOOR_OF)
    assert not missing, "place these in FLOORS (tests/test_floors.py):\n" + "\n".join(missing)


def test_imports_point_down() -> None:
    found = violations(SOURCES, FLOOR_OF)
    for violation in found:
        print(violation)
    assert not found, f"{len(found)} imports point up or sideways:\n" + "\n".join(map(str, found))


def test_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    plugin, retrievers = tmp_path / "plugin", tmp_path / "retrievers"
    files = {
        plugin / "__init__.py": "from ragdrop.cli import main\n",  # exempt
        plugin / "low" / "__init__.py": "",
        plugin / "low" / "a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from ragdrop.high import x\n"
            "def f():\n"
            "    import ragdrop.mid.y\n"
            "    importlib.import_module('ragdrop.retrievers.bm25')\n"
            "from ragdrop.low import b\n"  # itself: fine
            "from . import b\n"
        ),
        plugin / "mid" / "__init__.py": "from ragdrop import low, mid2\n",
        plugin / "mid2" / "__init__.py": "from ragdrop import Thing\n",
        plugin / "high" / "__init__.py": "from ..low.a import f\n",
        retrievers / "__init__.py": "",
        retrievers / "bm25" / "__init__.py": "from ragdrop.high import x\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sources = {"ragdrop": plugin, "ragdrop.retrievers": retrievers}
    floor_of = {"low": 0, "mid": 1, "mid2": 1, "retrievers": 2, "high": 3}

    found = {
        (v.path.relative_to(tmp_path).as_posix(), v.line, v.imported)
        for v in violations(sources, floor_of)
    }
    assert found == {
        ("plugin/low/a.py", 3, "ragdrop.high"),
        ("plugin/low/a.py", 5, "ragdrop.mid.y"),
        ("plugin/low/a.py", 6, "ragdrop.retrievers.bm25"),
        ("plugin/mid/__init__.py", 1, "ragdrop.mid2"),
        ("plugin/mid2/__init__.py", 1, "ragdrop.Thing"),
        ("retrievers/bm25/__init__.py", 1, "ragdrop.high"),
    }
    assert unplaced(sources, floor_of) == []
    (plugin / "new").mkdir()
    (plugin / "new" / "__init__.py").write_text("")
    (plugin / "loose.py").write_text("")
    assert unplaced(sources, floor_of) == ["ragdrop.loose (plugin/loose.py)", "ragdrop.new"]
