"""RefCOCOg (referring expressions on COCO images) in the REFER layout under `root` (the COCO dir):
`refcocog/refs(<split_by>).p` (a pickled list of refs), `refcocog/instances.json` (COCO boxes) and the
images in `images/mscoco/images/train2014/<file_name>`.

The refs file is a pickle; it is read with an unpickler that builds only lists, dicts, tuples, sets,
strings and numbers, so a crafted file cannot run code.
"""
from __future__ import annotations

import _compat_pickle
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kit.data.annotations import require_file
from kit.data.base import DatasetFormatError, ReferredObject, check_frames_exist

PROTOCOLS = ("one_per_ref", "per_expression")

# Plain containers a refs pickle may name by class (lists, dicts, tuples, str, int, float have opcodes).
_ALLOWED_GLOBALS = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset}


class _RefsUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        # Python 2 pickles (the REFER files) say `__builtin__`; map to Python 3 names first.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a refs file holds only plain data")


def load_refs(path: Path) -> list[dict]:
    """The list of refs of a REFER `refs(...).p`, unpickled safely; checked for the fields we use."""
    require_file(path)
    try:
        with path.open("rb") as file:
            refs = _RefsUnpickler(file, encoding="utf-8").load()
    except (pickle.UnpicklingError, EOFError, ValueError, UnicodeDecodeError, IndexError, KeyError) as err:
        raise DatasetFormatError(f"{path}: not a REFER refs pickle ({err})") from None
    if not isinstance(refs, list):
        raise DatasetFormatError(f"{path}: expected a list of refs, got {type(refs).__name__}")
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            raise DatasetFormatError(f"{path}: ref {i} is a {type(ref).__name__}, not a dict")
        for key in ("ref_id", "ann_id", "split", "sentences"):
            if key not in ref:
                raise DatasetFormatError(f"{path}: ref {i} (ref_id {ref.get('ref_id', '?')}) has no {key!r}")
        sentences = ref["sentences"]
        if (not isinstance(sentences, list) or not sentences
                or not all(isinstance(s, dict) and isinstance(s.get("sent"), str) for s in sentences)):
            raise DatasetFormatError(f"{path}: ref {i} (ref_id {ref['ref_id']}): 'sentences' must be a non-empty "
                                     "list of {'sent': str, ...}")
    return refs


def load_coco(path: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """(images by id, annotations by id) of a COCO instances file."""
    require_file(path)
    try:
        with path.open("r", encoding="utf-8") as file:
            data = json.load(file)
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{path} line {err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    tables = {}
    for table, keys in (("images", ("id", "file_name")), ("annotations", ("id", "image_id", "bbox"))):
        entries = data.get(table)
        if not isinstance(entries, list):
            raise DatasetFormatError(f"{path}: no {table!r} list")
        for i, entry in enumerate(entries):
            missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
            if missing:
                raise DatasetFormatError(f"{path}: {table}[{i}] has no {missing[0]!r}")
        tables[table] = {entry["id"]: entry for entry in entries}
    return tables["images"], tables["annotations"]


class RefCOCOg:
    """The refs of one split ('train' | 'val' | 'test'; the google split has only train and val) whose COCO
    annotation is not a crowd (as the official code). Each is a `ReferredObject` with all its sentences in
    file order; `iter_expressions` chooses the protocol. Images are not touched unless check_images=True."""

    dataset = "refcocog"

    def __init__(self, root: str | Path, split: str = "val", split_by: str = "google", check_images: bool = False):
        self.root = Path(root)
        refs_file = self.root / "refcocog" / f"refs({split_by}).p"
        refs = load_refs(refs_file)
        images, annotations = load_coco(self.root / "refcocog" / "instances.json")
        image_dir = self.root / "images" / "mscoco" / "images" / "train2014"
        self.split = split
        self.refs: list[ReferredObject] = []
        for ref in refs:
            if ref["split"] != split:
                continue
            ann = annotations.get(ref["ann_id"])
            if ann is None:
                raise DatasetFormatError(f"{refs_file}: ref_id {ref['ref_id']} points to ann_id {ref['ann_id']}, "
                                         "which instances.json does not have")
            if ann.get("iscrowd", 0):
                continue
            image = images.get(ann["image_id"])
            if image is None:
                raise DatasetFormatError(f"{self.root / 'refcocog' / 'instances.json'}: annotation {ann['id']} "
                                         f"points to image {ann['image_id']}, which is not in 'images'")
            box = np.asarray(ann["bbox"], dtype=np.float64)
            if box.shape != (4,):
                raise DatasetFormatError(f"{self.root / 'refcocog' / 'instances.json'}: annotation {ann['id']}: "
                                         f"bbox must be 4 numbers x,y,w,h, got {ann['bbox']!r}")
            self.refs.append(ReferredObject(ref_id=int(ref["ref_id"]), image=image_dir / image["file_name"],
                                            box=box, sentences=[s["sent"] for s in ref["sentences"]], split=split))
        if not self.refs:
            found = sorted({str(r["split"]) for r in refs})
            raise ValueError(f"{refs_file}: no refs with split {split!r} (the file has {found}; the google split "
                             "has only 'train' and 'val', use split_by='umd' for 'test')")
        if check_images:
            check_frames_exist(sorted({r.image for r in self.refs}), f"RefCOCOg {split!r}")

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> ReferredObject:
        return self.refs[index]

    def __iter__(self) -> Iterator[ReferredObject]:
        return iter(self.refs)

    def iter_expressions(self, protocol: str = "one_per_ref") -> Iterator[tuple[ReferredObject, int, str]]:
        """(ref, sentence index, sentence) samples. 'one_per_ref': the last sentence of each ref only, as the
        official training and grounding evaluation (docs/official-code.md, quirk 29; PRESERVE for the paper's number);
        'per_expression': every sentence, the usual RefCOCOg protocol."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        for ref in self.refs:
            if protocol == "one_per_ref":
                yield ref, len(ref.sentences) - 1, ref.sentences[-1]
            else:
                for i, sentence in enumerate(ref.sentences):
                    yield ref, i, sentence

    def __repr__(self) -> str:
        return f"RefCOCOg({self.split!r}, {len(self)} refs)"
