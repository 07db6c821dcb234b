"""The layout's import rules (docs/architecture.md), checked on the source tree: no
import cycles, no arrow against the layers, third-party libraries behind their package."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "engines", "lens", "sandbox", "config", "prereqs", "admin_ui", "bench")
# Top-level packages: who may import whom (besides itself).
ALLOWED = {
    "gateway": {"engines", "lens", "sandbox", "config", "admin_ui"},
    "engines": {"config", "prereqs"},  # prereqs: the build tools of `atlas engines install`
    "lens": {"config"},
    "sandbox": {"config"},
    "config": set(),
    "prereqs": set(),  # the system packages: standard library only, runs before .venv
    "admin_ui": set(),
    "bench": {"gateway", "engines", "lens", "sandbox", "config"},
}
# Layers inside the gateway, top to bottom: each may import those listed.
GATEWAY_LAYERS = {
    "gateway.cli": {
        "gateway.app",
        "gateway.serving",
        "gateway.telemetry",
        "gateway.drain",
        "gateway.wiring",
        "gateway.accounts",
        "gateway.commands",
    },
    # users, keys and the Lens' store for the CLI (argparse, plain asyncio)
    "gateway.commands": {"gateway.wiring", "gateway.accounts"},
    "gateway.app": {
        "gateway.admin",
        "gateway.http",
        "gateway.wiring",
        "gateway.strategies",
        "gateway.telemetry",
        "gateway.drain",
        "gateway.accounts",
    },
    "gateway.http": {
        "gateway.wiring",
        "gateway.protocols",
        "gateway.strategies",
        "gateway.telemetry",
        "gateway.drain",
        "gateway.accounts",
    },
    # The admin JSON API (litestar) and, in admin/pages/, the web UI's server-rendered
    # pages (Jinja, templates in admin_ui/): over the accounts, through the services.
    "gateway.admin": {"gateway.accounts", "gateway.wiring", "gateway.http", "gateway.telemetry"},
    "gateway.wiring": {
        "gateway.strategies",
        "gateway.telemetry",
        "gateway.heap_trim",
        "gateway.flushing",
        "gateway.accounts",
    },
    # users, keys, sessions, limits, usage over redis
    "gateway.accounts": {"gateway.flushing"},
    # Responses and Messages to and from chat completions: pure translation (msgspec).
    "gateway.protocols": {"gateway.strategies"},
    "gateway.strategies": {"gateway.telemetry"},
    "gateway.telemetry": set(),
    "gateway.testing": {"gateway.serving"},
    "gateway.serving": {"gateway.drain"},  # uvicorn's protocols with a write timeout
    "gateway.drain": set(),  # the shutdown clock (plain asyncio)
    "gateway.heap_trim": set(),  # hands freed heap back to the OS (ctypes, glibc)
    "gateway.flushing": set(),  # a periodic flush and a last one at close (plain asyncio)
}
ONLY_IN = {
    "litestar": ("gateway/http/", "gateway/admin/", "gateway/app.py", "gateway/testing.py"),
    "aiohttp": ("engines/",),
    "torch": ("lens/", "bench/"),
    "jinja2": ("gateway/admin/pages/",),  # the web UI's templates (litestar's integration)
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _runtime_imports(path: Path, modules: dict[str, Path]) -> list[str]:
    """Absolute imports outside `if TYPE_CHECKING:` blocks. `from pkg import sub` reaches
    the submodule; any other name imported from pkg reaches pkg itself."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names += subs if all(sub in modules for sub in subs) else [*subs, node.module]
    return names


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    third: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        imported = _runtime_imports(path, modules)
        for target in imported:
            top = target.split(".")[0]
            if top in ONLY_IN:
                third[top].add(path.relative_to(ROOT).as_posix())
        for target in imported:
            if target in modules and target != name:
                edges[name].add(target)
    return edges, third


def _layer(module: str) -> str | None:
    for layer in GATEWAY_LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def test_no_import_cycles() -> None:
    edges, _ = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_packages_import_only_downward() -> None:
    edges, _ = _graph()
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in edges.items()
        for b in targets
        if a.split(".")[0] != b.split(".")[0] and b.split(".")[0] not in ALLOWED[a.split(".")[0]]
    )
    assert wrong == []


def test_gateway_layers_import_only_downward() -> None:
    edges, _ = _graph()
    wrong = []
    for a, targets in edges.items():
        source = _layer(a)
        if source is None:
            continue
        for b in targets:
            target = _layer(b)
            if target is not None and target != source and target not in GATEWAY_LAYERS[source]:
                wrong.append(f"{a} -> {b}")
    assert sorted(wrong) == []


def test_every_gateway_module_belongs_to_a_layer() -> None:
    loose = [m for m in _modules() if m.startswith("gateway.") and _layer(m) is None]
    assert loose == []


def test_third_party_libraries_stay_behind_their_package() -> None:
    _, third = _graph()
    outside = {
        lib: sorted(f for f in files if not f.startswith(ONLY_IN[lib]))
        for lib, files in third.items()
    }
    assert {lib: files for lib, files in outside.items() if files} == {}


def test_the_gateway_starts_without_torch() -> None:
    # torch takes over a second to import; only a gateway with the Lens enabled loads it.
    probe = "import sys, gateway.app, gateway.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=False).returncode == 0
