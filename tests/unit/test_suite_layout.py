"""The test suite's own layout (tests/conftest.py): tests mirror the code, share helpers only
through tests/support/, and the xdist load order names files that exist."""
import ast
from pathlib import Path

from tests.conftest import SLOWEST_FILES

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def _test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "support" not in p.relative_to(TESTS).parts)


def test_every_file_of_the_load_order_exists():
    assert len(SLOWEST_FILES) == len(set(SLOWEST_FILES))
    assert [name for name in SLOWEST_FILES if not (TESTS / name).is_file()] == []


def test_tests_import_only_tests_support_never_another_test_module():
    offenders = []
    for path in _test_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and (node.level or node.module == "tests"):
                names = [f"tests.{alias.name}" for alias in node.names]  # from tests import x; from . import x
            offenders += [f"{path.relative_to(TESTS)}: {name}" for name in names
                          if name and name.split(".")[0] == "tests" and not name.startswith("tests.support")
                          and name != "tests.conftest"]
    assert offenders == [], "shared helpers go in tests/support/"


def test_every_test_folder_is_a_package():
    """So that test modules of the same name (unit/metadata/test_spans.py, e2e/test_spans.py) do
    not collide, and no folder here shadows a project package (tests/unit/components/)."""
    folders = [p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"]
    assert [str(p.relative_to(TESTS)) for p in folders if not (p / "__init__.py").is_file()] == []


def test_unit_folders_mirror_the_code():
    """tests/unit/<package>/ for pipeline/<package>/, components/ and deploy/; tests/unit/test_*.py
    for pipeline's top-level modules and the project as a whole."""
    folders = sorted(p.name for p in (TESTS / "unit").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [name for name in folders if not ((REPO / "pipeline" / name).is_dir() or (REPO / name).is_dir())] == []
