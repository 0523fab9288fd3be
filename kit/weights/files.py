"""Reading weight files safely, and comparing them with a model: the one `torch.load` of the kit (with a
restricted unpickler for files that pickle training objects), strict state-dict loading, and
`CheckpointError`, which every weights problem raises with a one-line message."""
from __future__ import annotations

import _compat_pickle
import collections
import copyreg
import pickle
import re
import types
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class CheckpointError(Exception):
    """A checkpoint could not be used. str() is one line: which file, what is wrong, what to do."""

    def __init__(self, message: str, report: "LoadReport | None" = None):
        super().__init__(re.sub(r"\s*\n\s*", " ", str(message)).strip())
        self.report = report


@dataclass
class LoadReport:
    """How a state dict differs from a model's: key lists, and (key, shape in file, shape in model)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """'2 missing, 1 mis-shaped key(s), e.g. missing 'a', shape of 'b' is (1,) in the file but (2,) ...'"""
        counts, examples = [], []
        if self.missing:
            counts.append(f"{len(self.missing)} missing")
            examples.append(f"missing {self.missing[0]!r}")
        if self.unexpected:
            counts.append(f"{len(self.unexpected)} unexpected")
            examples.append(f"unexpected {self.unexpected[0]!r}")
        if self.mismatched:
            key, in_file, in_model = self.mismatched[0]
            counts.append(f"{len(self.mismatched)} mis-shaped")
            examples.append(f"shape of {key!r} is {in_file} in the file but {in_model} in the model")
        return f"{', '.join(counts)} key(s), e.g. {', '.join(examples)}"


def first_line(err: BaseException) -> str:
    """The gist of an exception for a one-line message: its first sentence, at most ~200 characters."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    sentence = lines[0].split(". ")[0]
    return sentence if len(sentence) <= 200 else sentence[:200] + "..."


def compare_keys(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """Which keys of `state_dict` are missing, unexpected or mis-shaped for `model`."""
    ours = model.state_dict()
    return LoadReport(
        missing=[k for k in ours if k not in state_dict],
        unexpected=[k for k in state_dict if k not in ours],
        mismatched=[(k, tuple(v.shape), tuple(ours[k].shape)) for k, v in state_dict.items()
                    if k in ours and tuple(v.shape) != tuple(ours[k].shape)],
    )


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load every weight or none: a mismatch is a `CheckpointError` with the full lists in `.report`."""
    report = compare_keys(model, state_dict)
    if not report.ok:
        name = getattr(getattr(model, "config", None), "name", "?")
        raise CheckpointError(f"{source} does not match this model config ({name!r}): {report.summary()}. "
                              "Is this the right preset/variant?", report=report)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:  # e.g. a non-tensor value; keys and shapes were checked above
        raise CheckpointError(f"{source} could not be loaded into the model ({first_line(err)}).") from err


# Pickles may call these; anything else from these packages becomes a placeholder (never resolved).
_SAFE_BUILTINS = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset,
                  slice, range, object)
# Pickles that name these modules want to run code or touch the system: refuse the file outright.
_REFUSED_MODULES = {"os", "posix", "nt", "sys", "subprocess", "shutil", "importlib", "runpy", "socket",
                    "ctypes", "pickle", "_pickle", "marshal", "code", "codeop", "pty", "operator",
                    "_operator", "functools", "types", "io", "_io", "webbrowser", "signal", "multiprocessing",
                    "threading", "_thread", "asyncio", "pdb", "timeit", "tempfile", "urllib", "http"}


def _safe_globals() -> dict[str, object]:
    """'module.name' -> object for everything a weights file legitimately needs: torch's own weights-only
    allowlist (tensors, storages, dtypes, devices), plain builtin types and a few containers, numpy arrays."""
    import numpy as np
    from torch._weights_only_unpickler import _get_allowed_globals  # private, but torch is pinned

    safe = dict(_get_allowed_globals())
    safe.update({f"builtins.{t.__name__}": t for t in _SAFE_BUILTINS})
    safe.update({f"collections.{n}": getattr(collections, n)
                 for n in ("OrderedDict", "defaultdict", "deque", "Counter")})
    safe.update({"copyreg._reconstructor": copyreg._reconstructor, "copyreg.__newobj__": copyreg.__newobj__,
                 "_codecs.encode": safe["_codecs.encode"], "numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype})
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x pickles
        safe.update({f"{module}._reconstruct": multiarray._reconstruct, f"{module}.scalar": multiarray.scalar})
    return safe


class PickledObject:
    """Stands in for an object whose class the checkpoint names but we do not import (training stats,
    settings, ...). It runs nothing; it only keeps the data the file hands it."""

    pickled_as = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state

    # dict/list/set subclasses are rebuilt item by item through these
    def __setitem__(self, key, value):
        self.__dict__.setdefault("mapping", {})[key] = value

    def append(self, item):
        self.__dict__.setdefault("items", []).append(item)

    def extend(self, items):
        for item in items:
            self.append(item)

    def add(self, item):
        self.append(item)

    def __repr__(self):
        return f"<PickledObject {self.pickled_as}>"


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle asks for a callable that only code-running payloads need (eval, os.system, ...)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        # Protocol-2 pickles (torch's default) use Python 2 names such as `__builtin__`.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full_name = f"{module}.{name}"
        if not hasattr(self, "safe"):
            self.safe = _safe_globals()
        if full_name in self.safe:
            return self.safe[full_name]
        if module == "builtins" or module.split(".")[0] in _REFUSED_MODULES:
            raise RefusedGlobal(full_name)
        # Never import it: a class of the training code (or anything else) becomes an inert placeholder.
        return type(name.rsplit(".", 1)[-1], (PickledObject,), {"pickled_as": full_name})


def _restricted_load(file, **kwargs):
    return _RestrictedUnpickler(file, **kwargs).load()


# torch.load(pickle_module=...) needs a module-like object with Unpickler and load (and a __name__).
_restricted_pickle = types.ModuleType("kit_restricted_pickle")
_restricted_pickle.Unpickler = _RestrictedUnpickler
_restricted_pickle.load = _restricted_load


def load_torch_file(path: str | Path, *, pickled_objects: bool = False, mmap: bool = False):
    """The one `torch.load` of the kit: on the CPU, with `weights_only` (tensors and plain containers only).
    With `pickled_objects`, a file that also pickles training objects (the released checkpoint) is read
    next with the restricted unpickler, which never imports their classes (`PickledObject`) and refuses
    anything that could run code. With `mmap`, a zip-format file is memory-mapped: tensors are read from the
    file when used (the optimizer state of a training checkpoint never is), so loading does not hold a
    second in-memory copy of the weights."""
    path = Path(path)
    mmap = mmap and zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        if not pickled_objects:
            raise
        # a global outside torch's allowlist (or a broken pickle): the restricted pass decides
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle, mmap=mmap)
