"""The shape of `kit`'s imports, read from the source with `ast`: no module imports itself back through others
(counting imports inside functions too), and no module imports another module's private (underscore) names."""
import ast
from pathlib import Path

KIT = Path(__file__).resolve().parents[1] / "kit"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(KIT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kit_modules() -> dict[str, Path]:
    return {module_name(p): p for p in KIT.rglob("*.py")}


def imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(imported kit module, names taken from it, line) for every import in the file, wherever it stands.
    `from kit.a import b` where `b` is a module counts as importing `kit.a.b`."""
    found = []
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base not in modules:
                continue
            names = [a.name for a in node.names]
            found.append((base, [n for n in names if f"{base}.{n}" not in modules], node.lineno))
            found += [(f"{base}.{n}", [], node.lineno) for n in names if f"{base}.{n}" in modules]
    return found


def graph() -> dict[str, set[str]]:
    modules = kit_modules()
    edges = {}
    for name, path in modules.items():
        edges[name] = {target for target, _, _ in imports(path, modules) if target != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_kit_has_no_import_cycles():
    assert cycles(graph()) == []


def test_no_private_name_is_imported_from_another_module():
    modules = kit_modules()
    private = [f"{path.relative_to(KIT.parent)}:{line}: {name} from {target}"
               for path in modules.values() for target, names, line in imports(path, modules)
               for name in names if name.startswith("_")]
    assert private == []


def test_the_checker_finds_a_cycle_and_reads_function_level_imports():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    edges = graph()
    assert "kit.tracking.category_prior" in edges["kit.tracking.tracker"]   # imported inside a method
    assert "kit.weights.pretrained" in edges["kit.weights.checkpoint"]      # one way only
    assert "kit.weights.checkpoint" not in edges["kit.weights.pretrained"]
