"""The package's import structure: no circles, and arrows only point down the layers.

Every import in ``audioae/`` (at module level and inside functions, relative or absolute) is
read with :mod:`ast`, nothing is executed. Each module belongs to one layer (see
``docs/ARCHITECTURE.md``); a module may import its own layer and the layers listed below it
in ``ALLOWED``. A new module fails this test until it is given a layer here, so the map in
the docs and this table cannot drift from the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "audioae"

LAYERS: dict[str, tuple[str, ...]] = {
    # I/O and plain data: files, audio, configs. Nothing of spectrograms.
    "io": (
        "fileio",
        "jsonfile",
        "arguments",
        "waveforms",
        "audio",
        "audio_errors",
        "audio_probe",
        "resampling",
        "audiostream",
        "config",
        "config_model",
        "config_recipes",
        "config_training",
        "config_vocoder",
        "config_checks",
        "config_yaml",
        "bundled",
    ),
    # DSP: pure tensor maths and front-ends; nothing of models.
    "dsp": (
        "functional",
        "stft",
        "mel",
        "griffin_lim",
        "features",
        "phase",
        "augment",
        "chunking",
        "inpaint",
        "metrics",
        "plots",
    ),
    # Models and their objectives: nothing of training, files or inference.
    "models": ("models", "losses", "vocoder", "vocoder_losses"),
    # Artifacts: the model-file and latent-file formats.
    "artifacts": ("modelfile", "vocoderfile", "codec", "latent_header", "latent_entropy"),
    # Inference: a trained model end to end; nothing of the trainer.
    "inference": (
        "pipeline",
        "pipeline_denoise",
        "pipeline_errors",
        "torch_device",
        "latent_interpolation",
        "latent_prior",
        "pipeline_generation",
        "mask_denoising",
        "streaming_denoiser",
        "streaming_layers",
        "embed",
    ),
    # Training: data, the Lightning module and run folders; nothing of inference.
    "training": (
        "data",
        "data_report",
        "data_errors",
        "datasplit",
        "crops",
        "mixtures",
        "samplers",
        "dataindex",
        "dataindex_cache",
        "folder_keys",
        "clips",
        "training",
        "placement",
        "loaders",
        "autoencoder_module",
        "launch",
        "runfolder",
        "run_checkpoints",
        "run_export",
        "runlock",
        "checkpoint_io",
        "train_console",
        "optim",
        "vocoder_training",
        "vocoder_source",
        "init_weights",
        "model_check",
    ),
    # Applications: file-to-file work, evaluation, reports, the demo.
    "apps": (
        "apps",
        "apps_generation",
        "streaming",
        "live",
        "sound_devices",
        "baselines",
        "jobs",
        "evaluate",
        "anomaly",
        "anomaly_frames",
        "anomaly_reference",
        "anomaly_terms",
        "anomaly_tables",
        "report",
        "folder_report",
        "demo",
        "demo_common",
        "demo_denoise",
        "demo_codec",
        "demo_morph",
        "__init__",
    ),
    # The command line: parsing and printing only; nothing imports it.
    "cli": ("cli", "__main__"),
}

ALLOWED: dict[str, set[str]] = {
    "io": {"io"},
    "dsp": {"io", "dsp"},
    "models": {"io", "dsp", "models"},
    "artifacts": {"io", "dsp", "models", "artifacts"},
    "inference": {"io", "dsp", "models", "artifacts", "inference"},
    "training": {"io", "dsp", "models", "artifacts", "training"},
    "apps": {"io", "dsp", "models", "artifacts", "inference", "training", "apps"},
    "cli": {"io", "dsp", "models", "artifacts", "inference", "training", "apps", "cli"},
}


def _module_name(path: Path) -> str:
    """``audioae/models/base.py`` -> ``models.base``; ``audioae/cli/__init__.py`` -> ``cli``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> str | None:
    top = module.split(".")[0]
    for layer, names in LAYERS.items():
        if top in names:
            return layer
    return None


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for
    annotations only, which run nowhere: they make no dependency)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(path: Path, module: str) -> set[str]:
    """The package modules that ``path`` imports, as top-level names plus submodules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("audioae."):
                    found.add(alias.name.removeprefix("audioae."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join([*base, node.module] if node.module else base)
            elif node.module and (node.module == "audioae" or node.module.startswith("audioae.")):
                target = node.module.removeprefix("audioae").lstrip(".")
            else:
                continue
            if not target:  # ``from audioae import X`` / ``from . import X``: X are modules
                found.update(alias.name for alias in node.names)
            else:
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = {t for t in _imports(path, module) if t in files and t != module}
        graph[module] = targets
    return graph


GRAPH = _graph()


def test_every_module_has_a_layer():
    missing = sorted(m for m in GRAPH if _layer(m) is None)
    assert not missing, f"give these modules a layer in tests/test_architecture.py: {missing}"


def test_imports_only_point_down_the_layers():
    upward = [
        f"{module} ({_layer(module)}) -> {target} ({_layer(target)})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if _layer(module) and _layer(target) and _layer(target) not in ALLOWED[_layer(module)]
    ]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    # a package and its own submodules (``cli`` -> ``cli.apps``) are one unit, not a circle
    def unit(name: str) -> str:
        return name.split(".")[0] if name.split(".")[0] in ("cli", "models") else name

    collapsed: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        collapsed.setdefault(unit(module), set()).update(
            unit(t) for t in targets if unit(t) != unit(module)
        )
    assert _cycles(collapsed) == []


def test_the_checker_sees_a_circle_and_an_upward_arrow():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "training" not in ALLOWED["inference"] and "cli" not in ALLOWED["apps"]


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("audio", "features"),  # I/O knows nothing of spectrograms
        ("functional", "models"),  # DSP knows nothing of models
        ("models.base", "training"),  # models know nothing of training
        ("pipeline", "training"),  # inference knows nothing of the trainer
        ("pipeline", "data"),
    ],
)
def test_named_rules(module, forbidden):
    reach: set[str] = set()
    todo = [module]
    while todo:
        for nxt in GRAPH.get(todo.pop(), ()):
            if nxt not in reach:
                reach.add(nxt)
                todo.append(nxt)
    assert not any(r == forbidden or r.startswith(forbidden + ".") for r in reach)
