"""The code's layers point one way: `components/` (code that runs inside TFX components) never
imports `pipeline/` (orchestration, the command line), so a component can be reused or tested
without the orchestration side."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def _module_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports (at any depth in the file, except
    under `if TYPE_CHECKING:`, which never runs)."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for package in ("pipeline", "components") for p in (ROOT / package).rglob("*.py")}

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skipped = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(block)}
        deps = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                deps |= {owner(f"{node.module}.{a.name}") or owner(node.module) for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names}
        graph[name] = {d for d in deps if d and d != name}
    return graph


def test_no_module_imports_another_in_a_cycle():
    graph = _module_graph()
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in path:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert not cycles, f"import cycles: {sorted(set(cycles))}"
