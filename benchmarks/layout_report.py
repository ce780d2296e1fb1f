"""Prints the code layout's figures (issue 24): import cycles between the project's modules, the largest router
and flow files, and for every deployment the path a newcomer walks: router module(s) -> deployment -> flow file
-> task modules, with whether each hop stays inside one system's folders.

    python benchmarks/layout_report.py        (from the checkout; reads files only, runs nothing)
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "flows", "tasks", "inferloop")
SYSTEMS = ("tabular", "image", "context", "etl")


CLIENT = ROOT / "clients" / "python"  # the client distribution's packages


def module_name(path: Path) -> str:
    base = CLIENT if path.is_relative_to(CLIENT) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    out = {}
    folders = [ROOT / pkg for pkg in PACKAGES] + ([p for p in CLIENT.iterdir() if p.is_dir()] if CLIENT.is_dir() else [])
    for folder in folders:
        for p in folder.rglob("*.py"):
            if "migrations" not in p.parts and "build" not in p.relative_to(ROOT).parts:
                out[module_name(p)] = p
    return out


def _nodes(body: list[ast.stmt], everywhere: bool):
    """The statements that run (`if TYPE_CHECKING:` blocks never do); with `everywhere`, nested ones too."""
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        if everywhere:
            for field in ("body", "orelse", "finalbody", "handlers"):
                yield from _nodes([n for n in getattr(node, field, []) if isinstance(n, ast.AST)], everywhere)


def top_level_imports(path: Path, known: set[str], everywhere: bool = False) -> set[str]:
    """Modules imported when `path` is imported (module level; `everywhere`: also inside functions)."""
    found = set()
    for node in _nodes(ast.parse(path.read_text()).body, everywhere):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n:
                found.add(n)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


LAUNCHERS = {"start_job", "start_image_job", "run_and_wait", "submit", "start", "next_run"}


def launching_modules(mods: dict[str, Path], flows: set[str]) -> dict[str, set[str]]:
    """flow name -> the api modules whose calls of a job launcher (api.jobs.start_job and its thin wrappers,
    dispatch.submit) name it, as a literal, a module constant or an f-string prefix."""
    constants: dict[str, str] = {}
    trees = {m: ast.parse(p.read_text()) for m, p in mods.items() if m.startswith("api.")}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                    names = target.elts if isinstance(target, ast.Tuple) else [target]
                    for t, v in zip(names, values):
                        if isinstance(t, ast.Name) and isinstance(v, ast.Constant) and isinstance(v.value, str):
                            constants[t.id] = v.value
    out: dict[str, set[str]] = defaultdict(set)
    for m, tree in trees.items():
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name not in LAUNCHERS:
                continue
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                named = set()
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    named = {arg.value}
                elif isinstance(arg, (ast.Name, ast.Attribute)):
                    named = {constants.get(arg.id if isinstance(arg, ast.Name) else arg.attr, "")}
                elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                    named = {f for f in flows if f.startswith(arg.values[0].value)}
                for flow in named & flows:
                    out[flow].add(str(mods[m].relative_to(ROOT)))
    return out


def main() -> None:
    mods = modules()
    known = set(mods)
    graph = {m: {d for d in top_level_imports(p, known) if d != m and not m.startswith(d + ".")}
             for m, p in mods.items()}
    found = cycles(graph)
    print(f"modules: {len(mods)}; import cycles (module level): {len(found)}")
    for c in found:
        print("  cycle:", " <-> ".join(c))
    deep = {m: {d for d in top_level_imports(p, known, everywhere=True) if d != m and not m.startswith(d + ".")}
            for m, p in mods.items()}
    hidden = cycles(deep)
    print(f"import cycles counting imports inside functions too: {len(hidden)}")
    for c in hidden:
        print("  cycle:", " <-> ".join(c))

    def largest(folder: str, n: int = 3) -> list[tuple[int, str]]:
        files = [p for p in (ROOT / folder).rglob("*.py") if p.name != "__init__.py"]
        return sorted(((len(p.read_text().splitlines()), str(p.relative_to(ROOT))) for p in files), reverse=True)[:n]

    for folder in ("api", "flows"):
        print(f"largest files in {folder}/: " + ", ".join(f"{path} ({n} lines)" for n, path in largest(folder)))

    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    deployments += yaml.safe_load((ROOT / "deployments" / "ydata.prefect.yaml").read_text())["deployments"]
    flow_names = {d["entrypoint"].rsplit(":", 1)[1]: d["entrypoint"].split(":")[0] for d in deployments}
    routers = launching_modules(mods, set(flow_names))
    print("\nendpoint module -> deployment (flow) -> flow file -> task modules   [one system per path?]")
    hops_ok = 0
    for flow, entry in sorted(flow_names.items()):
        flow_file = ROOT / entry
        tasks = sorted(str(mods[t].relative_to(ROOT)) for t in top_level_imports(flow_file, known)
                       if t.startswith("tasks."))
        system = entry.split("/")[1]
        same = all(f"/{system}/" in r or r.startswith("api/v1") for r in routers[flow]) and \
            all(t.startswith(f"tasks/{system}/") for t in tasks)
        hops_ok += same
        print(f"  {', '.join(sorted(routers[flow])) or '(no router: scheduled or a subflow)'} -> {flow} -> {entry} -> "
              f"{', '.join(tasks) or '-'}   [{'yes' if same else 'no'}]")
    print(f"flows whose router, flow and tasks share one system folder: {hops_ok}/{len(flow_names)}")


if __name__ == "__main__":
    main()
