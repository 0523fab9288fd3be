"""The models the demo can offer on this machine, and why one is not on offer: the bundled Lite, the
paper's model (the authors' checkpoint, cached or downloadable), and weights given at start-up."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

BUNDLED, OFFICIAL = "bundled", "official"


@dataclass(frozen=True)
class ModelChoice:
    ref: str    # what load_model takes
    label: str  # shown in the page's model list


def official_status() -> tuple[bool, str]:
    """(can it be offered, one line why / how it will load) for the authors' checkpoint."""
    from kit.weights import official

    if official.is_cached():
        return True, f"cached in {official.converted_dir()}, loads in seconds"
    if official.download_path().is_file():
        return True, f"{official.FILE_NAME} is in {official.download_path().parent}; converted on first use"
    if importlib.util.find_spec("gdown") is None:
        return False, "the download client gdown is not installed (`pip install -r requirements.txt`)"
    if os.environ.get("JOINTNLT_OFFLINE", "").strip() in ("1", "true") or os.environ.get("HF_HUB_OFFLINE") == "1":
        return False, (f"this server is offline (JOINTNLT_OFFLINE / HF_HUB_OFFLINE): put {official.FILE_NAME} at "
                       f"{official.download_path()}, or start with --weights PATH")
    cache = official.cache_root()
    probe = next((p for p in (cache, *cache.parents) if p.exists()), None)
    if probe is None or not os.access(probe, os.W_OK):
        return False, f"the cache folder {cache} is not writable: set JOINTNLT_CACHE to a writable folder"
    return True, ("downloaded from the authors' Google Drive on first use (about 1 GB, a few minutes), then "
                  "converted once and cached")


def model_choices(start_ref: str) -> tuple[list[ModelChoice], list[str]]:
    """The models to offer (the one given at start-up first) and a note per model, available or not."""
    from kit.weights.checkpoint import WEIGHTS_NAME
    from kit.weights.loading import BUNDLED_MODEL

    choices, notes = [], []
    if start_ref.strip() not in (OFFICIAL, str(BUNDLED_MODEL)) and Path(start_ref) != BUNDLED_MODEL:
        choices.append(ModelChoice(start_ref, f"Given at start-up: {start_ref}"))
    if (BUNDLED_MODEL / WEIGHTS_NAME).is_file():
        choices.append(ModelChoice(str(BUNDLED_MODEL), "JointNLT-Lite (bundled; trained on synthetic shapes only)"))
    else:
        notes.append(f"JointNLT-Lite is not available: {BUNDLED_MODEL / WEIGHTS_NAME} is missing.")
    available, why = official_status()
    if available:
        choices.append(ModelChoice(OFFICIAL, "JointNLT, the paper's model (the authors' checkpoint)"))
        notes.append(f"The paper's model: {why}.")
    else:
        notes.append(f"The paper's model is not available here: {why}.")
    if start_ref.strip() == OFFICIAL and not available:
        choices.insert(0, ModelChoice(OFFICIAL, "JointNLT, the paper's model (the authors' checkpoint)"))
    return choices, notes
