"""The real-appearance data (`kit.data.semireal`): deterministic, exact boxes inside the frame, sentences
that pick the target alone, and validation photographs that training never sees."""
import hashlib

import numpy as np
import pytest

from kit.data import load_dataset
from kit.data import semireal
from kit.data.synthetic import BACKGROUND_PHOTOS


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_writing_twice_gives_byte_identical_files(tmp_path):
    for run in ("a", "b"):
        for split, index in (("val", 0), ("train", 0), ("train", 1), ("train", 2)):
            semireal.write_sequence(tmp_path / run, semireal.make_sequence(split, index, frames=6))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert len(_digest(tmp_path / "a")) == 4 * (6 + 5)


@pytest.mark.parametrize("index", range(6))
def test_boxes_lie_inside_the_frame_and_out_of_view_frames_are_zero(index):
    seq = semireal.make_sequence("train", index, frames=12)
    W, H = semireal.FRAME_SIZE["train"]
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in seq.frames)
    visible = seq.out_of_view == 0
    b = seq.boxes
    assert visible[0]
    assert np.all(b[visible, 2] > 0) and np.all(b[visible, 3] > 0)
    assert np.all(b[:, 0] >= 0) and np.all(b[:, 1] >= 0)
    assert np.all(b[:, 0] + b[:, 2] <= W) and np.all(b[:, 1] + b[:, 3] <= H)
    assert np.all(b[~visible] == 0)


def test_camera_boxes_are_exact_the_box_shows_the_labelled_part_of_the_photo():
    import cv2

    checked = 0
    for index in range(5):     # one camera path over each labelled photo
        seq = semireal.make_sequence("val", index, frames=20)
        photo = semireal.load_photo(seq.meta["photo"]).astype(np.float32)
        x, y, w, h = seq.meta["labelled_box"]
        H, W = seq.frames[0].shape[:2]
        for t in (0, 10, 19):
            bx, by, bw, bh = seq.boxes[t]
            if not (bx > 0 and by > 0 and bx + bw < W and by + bh < H):
                continue    # clipped by the frame: the frame box is not the whole labelled box
            crop = seq.frames[t][by:by + bh, bx:bx + bw].astype(np.float32)
            ref = cv2.resize(photo[y:y + h, x:x + w], (bw, bh), interpolation=cv2.INTER_AREA)
            corr = np.corrcoef(crop.ravel(), ref.ravel())[0, 1]
            shifted = np.corrcoef(crop[:, bw // 3:].ravel(), ref[:, :bw - bw // 3].ravel())[0, 1]
            assert corr > 0.9 and corr > shifted + 0.1, (seq.name, t, corr, shifted)
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("index", [2, 5, 8, 11])
def test_cutout_sentences_pick_the_target_alone(index):
    seq = semireal.make_sequence("train", index, frames=6)
    assert seq.kind == "cutout"
    meta = seq.meta
    colour = next((c for c in semireal.COLOUR_NAMES if f" {c} " in f" {seq.sentence} "), None)
    if colour is not None:
        assert meta["colours"][meta["target"]] == colour
        if "object" not in seq.sentence:
            assert meta["colours"].count(colour) == 1
    if "object" in seq.sentence:   # no unique colour: the place words decide
        assert meta["place"] and seq.sentence.endswith(meta["place"])
        boxes = np.array(meta["first_boxes"], float)
        assert semireal._place_words(boxes, meta["target"]) == meta["place"]
        assert all(semireal._place_words(boxes, k) != meta["place"] for k in range(len(boxes)) if k != meta["target"])


def test_colour_names_follow_the_hue():
    red = np.tile([[220, 30, 30]], (100, 1))
    blue = np.tile([[30, 60, 220]], (100, 1))
    gray = np.tile([[128, 128, 128]], (100, 1))
    assert semireal.colour_name(red) == "red"
    assert semireal.colour_name(blue) == "blue"
    assert semireal.colour_name(gray) is None


def test_validation_photos_are_never_training_photos_or_synthetic_backgrounds():
    val = {(p.package, p.path) for p in semireal.VALIDATION_PHOTOS.values()}
    train = {(p.package, p.path) for p in semireal.TRAIN_PHOTOS.values()}
    assert not val & train
    assert not {p.path.rsplit("/", 1)[-1] for p in semireal.VALIDATION_PHOTOS.values()} & set(BACKGROUND_PHOTOS)
    for name, photo in semireal.VALIDATION_PHOTOS.items():
        image = semireal.load_photo(name)
        x, y, w, h = photo.box
        assert 0 <= x and 0 <= y and x + w <= image.shape[1] and y + h <= image.shape[0], name


def test_written_sequences_load_as_a_lasot_layout_dataset(tmp_path):
    semireal.write_split(tmp_path, "val", 2)
    data = load_dataset("semireal", tmp_path, split="val")
    assert len(data) == 2
    seq = data[0]
    assert seq.sentence == semireal.VALIDATION_PHOTOS[seq.name.rsplit("-", 1)[0]].sentence
    assert len(seq.frames) == 60 and seq.boxes.shape == (60, 4)
