"""Run folders of ``audioae train``: their layout and resume checks.

A run folder holds::

    RUN_DIR/config.yaml              the effective config, written when the run starts
    RUN_DIR/checkpoints/last.ckpt    the latest state (step, weights, optimiser, scheduler)
    RUN_DIR/checkpoints/best-*.ckpt  the lowest validation loss so far
    RUN_DIR/tensorboard/             TensorBoard events
    RUN_DIR/csv/version_N/           CSV metrics
    RUN_DIR/model.safetensors        the exported model file (see :mod:`audioae.modelfile`)
    RUN_DIR/.lock                    held while a run trains (see :mod:`audioae.runlock`)

``--out`` rules (:func:`check_out_folder`): a new run goes into a missing or empty folder, or
into a run folder of the same recipe that never wrote a checkpoint; a folder that holds a run
needs ``--resume``; any other folder is refused before anything is written there.

Checkpoints are read by :mod:`audioae.run_checkpoints` (``weights_only=True``, never
unpickled; the one reader of Lightning's checkpoint layout) and a run is
exported by :mod:`audioae.run_export`. Neither this module nor those import Lightning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, config_from_dict, load_yaml
from .fileio import OutputExistsError, atomic_output, is_atomic_temporary, name_some
from .run_checkpoints import CONFIG_HPARAM, checkpoint_step
from .runlock import LOCK_FILE

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT_FILENAME = "best-step{step:07d}"
"""Lightning ``ModelCheckpoint`` filename template of the best checkpoint (``.ckpt`` added)."""
BEST_CHECKPOINT_GLOB = "best*.ckpt"
MODEL_FILE = "model.safetensors"
SOURCES_FILE = "sources.json"
"""The data and noise folders a run trained on (absolute paths), checked on ``--resume``."""
SPLIT_FILE = "split.json"
"""The validation files a run holds out (``data.val_fraction`` and paths relative to the data
folder), kept on ``--resume`` while files are added or removed (:func:`audioae.data.split_kept`)."""
MAX_SPLIT_BYTES = 256 * 2**20
"""Largest ``split.json`` read: about 3 million validation paths of 80 characters."""
TENSORBOARD_DIR = "tensorboard"
CSV_DIR = "csv"
RUN_ENTRIES = frozenset(
    {
        CONFIG_FILE,
        CHECKPOINT_DIR,
        TENSORBOARD_DIR,
        CSV_DIR,
        MODEL_FILE,
        LOCK_FILE,
        SOURCES_FILE,
        SPLIT_FILE,
    }
)
"""Every name a run folder may hold at its top level."""
_CHECKPOINT_STEMS = r"last|best[^/]*"
"""Stems of the checkpoints a run writes (``last.ckpt``, :data:`BEST_CHECKPOINT_GLOB`)."""
RUNS_DIR = Path("runs")
"""Where ``audioae train`` puts a run without ``--out``: ``runs/<recipe name>``."""

# Lightning checkpoint layout (see the module docstring).


class RunExistsError(OutputExistsError):
    """The run folder already holds a run and ``resume`` was not requested."""

    def __init__(self, path: Path, reason: str | None = None) -> None:
        super().__init__(
            path,
            reason
            or "a run already exists here; pass --resume to continue it or choose another --out "
            "(resume=True / out_dir= from Python)",
        )


class NotARunFolderError(OutputExistsError):
    """``--out`` is an existing file, or a folder that holds files other than a run's."""


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder (nothing is created or read on construction).

    Attributes:
        root: the run folder.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / CHECKPOINT_DIR

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / LAST_CHECKPOINT

    @property
    def model_file(self) -> Path:
        return self.root / MODEL_FILE

    def has_run(self) -> bool:
        """Whether a run already wrote its ``last.ckpt`` here."""
        return self.last_checkpoint.is_file()

    @property
    def sources_file(self) -> Path:
        return self.root / SOURCES_FILE

    def read_sources(self) -> dict[str, str | None] | None:
        """The folders recorded by :meth:`write_sources`, or None (none recorded, or a file
        that is not a small JSON object of strings)."""
        from .jsonfile import BoundedJsonError, read_bounded_json

        try:
            doc = read_bounded_json(self.sources_file, 65536)
        except BoundedJsonError:
            return None
        if not isinstance(doc, dict) or not all(isinstance(v, str | None) for v in doc.values()):
            return None
        return doc

    def write_sources(self, sources: dict[str, str | None]) -> Path:
        """Record the folders a run trains on (atomically, replacing an older record)."""
        with atomic_output(self.sources_file, overwrite=True) as tmp:
            tmp.write_text(json.dumps(sources, indent=1) + "\n")
        return self.sources_file

    @property
    def split_file(self) -> Path:
        return self.root / SPLIT_FILE

    def read_split(self) -> tuple[float, list[str]] | None:
        """The split recorded by :meth:`write_split`: ``(val_fraction, validation paths)``,
        or None when none is recorded; a file that is not such a record is warned about and
        taken as none (the split is then chosen anew)."""
        from .jsonfile import BoundedJsonError, read_bounded_json

        if not self.split_file.is_file():
            return None
        try:
            doc = read_bounded_json(self.split_file, MAX_SPLIT_BYTES)
        except BoundedJsonError as exc:
            log.warning("%s; the validation files are chosen anew", exc)
            return None
        fraction = doc.get("val_fraction") if isinstance(doc, dict) else None
        paths = doc.get("val") if isinstance(doc, dict) else None
        if (
            not isinstance(fraction, int | float)
            or isinstance(fraction, bool)
            or not isinstance(paths, list)
            or not all(isinstance(p, str) for p in paths)
        ):
            log.warning(
                "%s: not a record of validation files; the validation files are chosen anew",
                self.split_file,
            )
            return None
        return float(fraction), paths

    def recorded_val_paths(self, val_fraction: float, *, report: bool = True) -> list[str] | None:
        """The validation files this run recorded (:meth:`read_split`), to be kept when it
        goes on with ``data.val_fraction`` = ``val_fraction``; None when none is recorded or
        the fraction changed (then, with ``report``, a warning says the split is chosen
        anew). What ``--resume`` and ``audioae inspect --run`` use."""
        recorded = self.read_split()
        if recorded is None:
            return None
        fraction, paths = recorded
        if fraction != val_fraction:
            if report:
                log.warning(
                    "%s: data.val_fraction is %g, the run started with %g: the validation files "
                    "are chosen anew, so the best checkpoint's validation loss and later ones "
                    "compare different audio",
                    self.root,
                    val_fraction,
                    fraction,
                )
            return None
        return paths

    def write_split(self, val_fraction: float, val_paths: list[str]) -> Path:
        """Record the validation files (paths relative to the data folder), atomically."""
        with atomic_output(self.split_file, overwrite=True) as tmp:
            doc = {"val_fraction": val_fraction, "val": sorted(val_paths)}
            tmp.write_text(json.dumps(doc, indent=0) + "\n")
        return self.split_file

    def write_config(self, cfg: Config) -> Path:
        """Write ``cfg`` as ``config.yaml`` (atomically, replacing an older one); returns the path."""
        with atomic_output(self.config_file, overwrite=True) as tmp:
            tmp.write_text(cfg.to_yaml())
        return self.config_file


def default_run_dir(name: str) -> Path:
    """``runs/<name>``, the run folder of a recipe trained without ``--out``.

    Raises:
        ConfigError: ``name`` would point outside ``runs/`` (absolute, ``..``, a separator).
    """
    if not name.strip() or ".." in name or re.search(r"[/\\:\0]", name) or Path(name).is_absolute():
        raise ConfigError(f"name: {name!r} cannot name a run folder (no '/', '\\', ':' or '..')")
    return RUNS_DIR / name


def check_out_folder(run: RunFolder, cfg: Config, *, resume: bool) -> None:
    """Refuse an ``--out`` a run may not use, before anything is written there.

    Allowed: a missing or empty folder; a run folder (only :data:`RUN_ENTRIES`, with a
    ``config.yaml``) of the same recipe name that never wrote ``last.ckpt``; with ``resume``,
    any run folder (:func:`prepare_run_folder` checks that it fits).

    Raises:
        NotARunFolderError: ``run.root`` is a file, or a folder with other files in it.
        RunExistsError: a run folder that holds a run (without ``resume``), or that was
            started for another recipe.
    """
    root = run.root
    if not check_not_foreign(root) or resume:
        return
    if run.has_run():
        raise RunExistsError(root)
    saved = _saved_name(run.config_file)
    if saved != cfg.name:
        raise RunExistsError(
            root,
            f"holds a run of recipe {saved!r}, not {cfg.name!r}; choose another --out",
        )


def is_run_temporary(name: str, *, in_checkpoints: bool = False) -> bool:
    """Whether ``name`` (a file in a run folder, or in its ``checkpoints/`` when
    ``in_checkpoints``) is the temporary file of an atomic write that never finished: a run
    or an export killed mid-write leaves one (:func:`audioae.fileio.atomic_output`)."""
    if in_checkpoints:
        return is_atomic_temporary(name, _CHECKPOINT_STEMS, ".ckpt")
    tops = (CONFIG_FILE, MODEL_FILE, SOURCES_FILE, SPLIT_FILE)
    return any(is_atomic_temporary(name, re.escape(Path(t).stem), Path(t).suffix) for t in tops)


def remove_left_temporaries(run: RunFolder) -> int:
    """Remove what killed writes left in ``run`` (:func:`is_run_temporary`); returns how
    many. Call it only while holding the run's lock: no other process writes there then."""
    removed = 0
    for folder, in_checkpoints in ((run.root, False), (run.checkpoint_dir, True)):
        names = os.listdir(folder) if folder.is_dir() else []
        for name in names:
            if is_run_temporary(name, in_checkpoints=in_checkpoints):
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
                    removed += 1
    if removed:
        log.info("%s: removed %d temporary file(s) left by a killed write", run.root, removed)
    return removed


def check_not_foreign(root: Path) -> bool:
    """Refuse a file, or a folder with anything but a run folder's entries (a ``config.yaml``
    among them); returns whether ``root`` holds a run folder's entries (False: new or empty).

    Raises:
        NotARunFolderError: ``root`` is a file or a folder with other files.
    """
    if root.exists() and not root.is_dir():
        raise NotARunFolderError(root, "exists and is not a folder; choose another --out")
    entries = set(os.listdir(root)) if root.is_dir() else set()
    # the data index is cached here when the data folder is read-only (dataindex.py)
    ignored = {e for e in entries if e.startswith("data-index-") and e.endswith(".json")}
    ignored |= {e for e in entries if is_run_temporary(e)}  # removed under the run's lock
    if not entries - {LOCK_FILE} - ignored:
        return False
    foreign = sorted(entries - RUN_ENTRIES - ignored)
    if foreign or CONFIG_FILE not in entries:
        shown = ", ".join(foreign[:3] or sorted(entries)[:3])
        raise NotARunFolderError(
            root,
            f"is not empty and not a run folder of `audioae train` (it holds {shown}); "
            "choose a new or empty --out",
        )
    return True


def _saved_name(config_file: Path) -> str | None:
    try:
        data = load_yaml(config_file.read_text(), str(config_file))
    except (OSError, ConfigError):
        return None
    return data.get("name") if isinstance(data, dict) else None


def module_config(config: Config | dict[str, Any]) -> Config:
    """A training module's config: as given, or rebuilt (and checked) from the dict form that
    Lightning hands back from a checkpoint's hyper-parameters."""
    if isinstance(config, Config):
        return config
    return config_from_dict(config, source="checkpoint config")


def checkpoint_hyperparameters(cfg: Config) -> dict[str, Any]:
    """The hyper-parameters a training module saves in its checkpoints (the config as a dict)."""
    return {CONFIG_HPARAM: cfg.to_dict()}


def resume_differences(saved: Path, cfg: Config, ignore: Collection[str] = ()) -> list[str]:
    """The ``training``, ``data`` and ``loss`` settings in which ``cfg`` differs from the
    run's saved ``config.yaml``, as ``section.key: old -> new`` (allowed on resume, unlike
    the model's, but easy to change by accident: a resume without the first run's ``--set``
    goes back to the recipe's values), leaving out the ``section.key`` names in ``ignore``.
    Empty when nothing differs or nothing was saved."""
    if not saved.is_file():
        return []
    old = load_yaml(saved.read_text(), str(saved)) or {}
    new = cfg.to_dict()
    changed = []
    for section in ("training", "data", "loss"):
        before = old.get(section) if isinstance(old.get(section), dict) else {}
        for key, value in new[section].items():
            if key in before and before[key] != value and f"{section}.{key}" not in ignore:
                changed.append(f"{section}.{key}: {before[key]!r} -> {value!r}")
    return changed


def require_resumable(run: RunFolder) -> None:
    """Refuse a ``--resume`` of a folder without a ``last.ckpt``.

    Raises:
        ConfigError: nothing to resume from.
    """
    if not run.has_run():
        raise ConfigError(
            f"{run.root}: nothing to resume from ({run.last_checkpoint} not found); "
            "train without --resume"
        )


def check_resume_compatible(saved: Path, cfg: Config) -> None:
    """Refuse to resume with a model or front-end that differs from the run's saved config.

    Args:
        saved: the run's ``config.yaml``; nothing is checked when it does not exist.
        cfg: the config of the run about to resume.

    Raises:
        ConfigError: the ``task`` or an ``audio``, ``features``, ``model`` or ``vocoder`` value
            differs from the saved one.
    """
    if not saved.is_file():
        return
    old = load_yaml(saved.read_text(), str(saved)) or {}
    new = cfg.to_dict()
    for section in ("task", "audio", "features", "model", "vocoder"):
        if not isinstance(new[section], dict):
            if old.get(section, new[section]) != new[section]:
                raise ConfigError(
                    f"{section}: {new[section]!r} differs from the run being resumed "
                    f"({old[section]!r} in {saved}); resume with the same recipe"
                )
            continue
        for key, value in new[section].items():
            if old.get(section, {}).get(key, value) != value:
                raise ConfigError(
                    f"{section}.{key}: {value!r} differs from the run being resumed "
                    f"({old[section][key]!r} in {saved}); resume with the same recipe"
                )


def warn_nothing_to_train(root: Path, step: int, max_steps: int, *, exporting: bool) -> None:
    """The warning of a ``--resume`` whose run is already at ``step`` >= ``max_steps``:
    ``exporting``, it only writes the model file it lacks; else nothing is rewritten."""
    log.warning(
        "%s is already at step %d of training.max_steps %d: nothing to train, %s; pass "
        "--max-steps N (N > %d; max_steps=N from Python) to train on",
        root,
        step,
        max_steps,
        "exporting its model file" if exporting else "nothing rewritten",
        step,
    )


def prepare_run_folder(
    run: RunFolder,
    cfg: Config,
    *,
    resume: bool,
    main_process: bool = True,
    sources: dict[str, str | None] | None = None,
    split: tuple[float, list[str]] | None = None,
    chosen: tuple[str, ...] = (),
) -> Path | None:
    """Check that a run may start in ``run`` and write its ``config.yaml``.

    On ``resume``, the ``training``/``data``/``loss`` settings that differ from the run's
    ``config.yaml`` (:func:`resume_differences`) are named in a warning, except the devices
    and those the caller set on purpose (``chosen``, e.g. ``("training.max_steps",)`` for
    ``--max-steps``).

    ``sources`` (``{"data": folder, "noise": folder or None}``, absolute paths) is recorded
    in ``sources.json``; a resume from other folders than the recorded ones is allowed but
    warned about (the best checkpoint's validation loss then spans two validation sets).
    ``split`` (``data.val_fraction`` and the validation files relative to the data folder)
    is recorded in ``split.json`` for a later ``--resume`` to keep.

    With ``resume`` the run must have a ``last.ckpt`` and the same model and front-end
    config (:func:`check_resume_compatible`); without, the folder must be new, empty or a
    run folder of the same recipe without a checkpoint (:func:`check_out_folder`). Files
    that killed writes left are removed (:func:`remove_left_temporaries`: call this with
    the run's lock held). Only the main process (``main_process``; rank 0 under DDP) checks ``--out``, logs the step resumed
    from and writes ``config.yaml``; every process checks a resume.

    Returns:
        The checkpoint to resume from, or None for a new run.

    Raises:
        ConfigError: ``resume`` with no ``last.ckpt``, or a resumed run whose model or
            front-end config differs from the saved one.
        RunExistsError: ``run`` holds a run and ``resume`` is false.
        NotARunFolderError: ``run`` is a folder with other files, or a file.
        ModelFileError: the checkpoint to resume from cannot be read safely.
    """
    resume_from = None
    if main_process:
        check_out_folder(run, cfg, resume=resume)
        remove_left_temporaries(run)
    if resume:
        require_resumable(run)
        check_resume_compatible(run.config_file, cfg)
        resume_from = run.last_checkpoint
        if main_process:
            ignore = {"training.devices", "training.num_nodes", *chosen}
            changed = resume_differences(run.config_file, cfg, ignore)
            if changed:
                log.warning(
                    "resuming %s with settings that differ from its config.yaml: %s (give the "
                    "first run's --set values again to keep them)",
                    run.root,
                    name_some(changed, 6, "; "),
                )
            step = checkpoint_step(resume_from)
            if step is not None and step >= cfg.training.max_steps:
                warn_nothing_to_train(run.root, step, cfg.training.max_steps, exporting=True)
            else:
                log.info("resuming %s from step %s of %d", run.root, step, cfg.training.max_steps)
    if main_process:
        if resume and sources is not None:
            recorded = run.read_sources()
            changed = [
                f"--{k} {sources.get(k)} (the run trained on {recorded.get(k)})"
                for k in sorted(set(recorded or {}) | set(sources))
                if recorded is not None and recorded.get(k) != sources.get(k)
            ]
            if changed:
                log.warning(
                    "resuming %s with other folders: %s; its best checkpoint was chosen on "
                    "the old validation split, so best and later validation losses compare "
                    "different audio",
                    run.root,
                    "; ".join(changed),
                )
        run.write_config(cfg)
        if sources is not None:
            run.write_sources(sources)
        if split is not None:
            run.write_split(*split)
    return resume_from
