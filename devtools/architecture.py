"""The project's layers as its code imports them (DESIGN §1).

One rule, read from the source (every ``import``, at module level or inside a function):

- imports run one way, ``dags → flows → connectors · transforms · quality → hub``: a package imports
  only packages on a lower layer (and itself); on the middle layer only ``quality → transforms``
  (a gate checks the shapes the transforms define); ``dags`` and ``plugins`` (Airflow's folders)
  may use each other;
- DAG files are wiring: they import ``flows``, ``plugins`` and ``hub``, not the layers below flows;
- the layers below ``flows`` never import Airflow, so they import and test without it;
- ``receiver`` (the push service) sits beside ``dags``: it may use ``flows``, the middle layer and ``hub``,
  imports no Airflow itself (it talks to Airflow's REST API), and nothing imports it;
- ``sandbox`` (the emulators) imports nothing of the product, so it cannot drift towards it;
- ``cli``, ``devtools`` and ``bench`` may import every layer, and nothing but them imports them.

``tests/infra/test_layers.py`` checks the rule; ``python -m devtools.architecture --write`` draws
the README's architecture picture from the same scan, and the test fails when the picture is stale.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- architecture:begin (python -m devtools.architecture --write) -->", "<!-- architecture:end -->"

LAYER = {"dags": 4, "plugins": 4, "receiver": 4, "flows": 3, "connectors": 2, "transforms": 2, "quality": 2, "hub": 1}
TOOLS = ("cli", "devtools", "bench")  # may import anything; nothing imports them
LATERAL = {("quality", "transforms"), ("dags", "plugins"), ("plugins", "dags")}
DAG_IMPORTS = {"flows", "plugins", "hub"}
AIRFLOW_FREE = {"hub", "connectors", "transforms", "quality", "sandbox", "receiver"}
PROJECT = (*LAYER, *TOOLS, "sandbox")


@dataclass(frozen=True)
class Import:
    source: str  # the importing package (top-level folder)
    path: str  # the importing file, relative to the project
    line: int
    target: str  # the imported module, dotted


def scan(root: Path = ROOT) -> Iterator[Import]:
    """Every import of every project module (tests and migrations aside)."""
    for package in PROJECT:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    yield Import(package, path.relative_to(root).as_posix(), node.lineno, name)


def violations(imports: list[Import]) -> list[str]:
    """Each import that breaks the rule, as ``file:line: source → target: why``."""
    found = []
    for imp in imports:
        top = imp.target.split(".")[0]
        why = _why_not(imp.source, top)
        if why:
            found.append(f"{imp.path}:{imp.line}: {imp.source} → {imp.target}: {why}")
    return found


def _why_not(source: str, top: str) -> str | None:
    if top == "airflow":
        if source == "receiver":
            return "the receiver talks to Airflow's REST API; it imports no Airflow"
        return "below flows nothing imports Airflow" if source in AIRFLOW_FREE else None
    if top not in PROJECT or top == source:
        return None
    if source in TOOLS:
        return None
    if top in TOOLS:
        return f"nothing but the tools imports {top} (developer tooling, the console script, benchmarks)"
    if source == "sandbox":
        return "the emulators import nothing of the product"
    if top == "sandbox":
        return "only the tools start the sandbox"
    if source == "dags" and top not in DAG_IMPORTS:
        return "DAG files are wiring: they call flows (and use plugins, hub)"
    if (source, top) in LATERAL:
        return None
    if LAYER[top] >= LAYER[source]:
        return "imports run dags → flows → connectors · transforms · quality → hub"
    return None


def edges(imports: list[Import]) -> Counter[tuple[str, str]]:
    """How many modules of each package import each other project package."""
    seen = {(imp.path, imp.source, imp.target.split(".")[0]) for imp in imports}
    return Counter((src, dst) for _, src, dst in seen if dst in PROJECT and dst != src)


def picture(imports: list[Import]) -> str:
    """The README's architecture picture: a Mermaid flowchart of the package imports, top layer first."""
    counted = edges(imports)
    order = sorted(PROJECT, key=lambda p: (-LAYER.get(p, 5 if p in TOOLS else 0), p))
    lines = ["```mermaid", "flowchart TD"]
    for package in order:
        lines.append(f"  {package}[{package}/]")
    for (src, dst), n in sorted(counted.items(), key=lambda e: (order.index(e[0][0]), order.index(e[0][1]))):
        lines.append(f"  {src} -->|{n}| {dst}")
    lines.append("```")
    return "\n".join(lines)


def readme_with_picture(readme: str, drawing: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + drawing + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the picture in README.md")
    args = parser.parse_args(argv)
    imports = list(scan())
    broken = violations(imports)
    for line in broken:
        print(line, file=sys.stderr)
    drawing = picture(imports)
    if args.write:
        README.write_text(readme_with_picture(README.read_text(encoding="utf-8"), drawing), encoding="utf-8")
    else:
        print(drawing)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
