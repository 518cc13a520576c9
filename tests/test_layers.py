"""The code's layers point one way: `components/` (code that runs inside TFX components) never
imports `pipeline/` (orchestration, the command line), so a component can be reused or tested
without the orchestration side."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_components_never_import_the_orchestration_layer():
    offenders = {str(p.relative_to(ROOT)) for p in (ROOT / "components").glob("*.py")
                 if "pipeline" in imported_packages(p)}
    assert not offenders, f"components/ imports pipeline/ in {sorted(offenders)}"
