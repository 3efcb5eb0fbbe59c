"""The import graph points one way: app -> {robot, learning} -> storage, and nothing in the
product imports the tests or the benchmarks. Read from the source, so a lazy import inside a
function counts as much as one at the top."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what each package may import, of the project's own top-level packages
ALLOWED = {"storage": set(), "robot": {"storage"}, "learning": {"storage"},
           "app": {"storage", "robot", "learning"}}
OURS = set(ALLOWED) | {"tests", "benchmarks"}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & OURS


def test_every_import_points_down_the_layers():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(imported_packages(path) - allowed - {package}):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "imports against app -> {robot, learning} -> storage:\n" + "\n".join(wrong)
