"""The synthetic NL-tracking benchmark: determinism, LaSOT layout and formats, annotations that match the
pixels, sentences that single out the target, event flags, appearance drift, disjoint splits."""
import dataclasses
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("skimage", reason="the synthetic backgrounds are scikit-image's bundled photos")

from kit.data import synthetic as syn
from kit.data.synthetic import Description, SceneObject, SyntheticConfig, describes, referents

TINY = SyntheticConfig(width=160, height=120, train_frames=8, eval_frames=8, train=3, val=2, test=3,
                       grounding_train=2, grounding_val=1, grounding_test=2)
EVENTS = dataclasses.replace(TINY, exit_probability=1.0, occluder_probability=1.0)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _colour_fraction(frame_rgb: np.ndarray, box, rgb, hue_tol: float = 10.0) -> float:
    """Fraction of the box's pixels whose hue is within hue_tol degrees of `rgb`'s (saturated pixels)."""
    x, y, w, h = (int(v) for v in box)
    patch = cv2.cvtColor(np.ascontiguousarray(frame_rgb[y:y + h, x:x + w]), cv2.COLOR_RGB2HSV).astype(float)
    ref = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2HSV)[0, 0].astype(float)
    diff = np.abs(patch[..., 0] - ref[0])
    diff = np.minimum(diff, 180 - diff) * 2  # OpenCV hue is degrees / 2
    return float(((diff <= hue_tol) & (patch[..., 1] > 80)).mean())


def _events_sequences(count=12, frames=40):
    return [syn.generate_sequence(np.random.default_rng([7, i]), EVENTS, frames) for i in range(count)]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    syn.write_benchmark(root, TINY, workers=1, progress=False)
    return root


# --- determinism ----------------------------------------------------------------------------------------

def test_same_seed_gives_identical_files_whatever_the_workers(written, tmp_path):
    syn.write_benchmark(tmp_path / "again", TINY, workers=2, progress=False)
    first, second = _tree(written), _tree(tmp_path / "again")
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_command_line_writes_the_same_test_split(written, tmp_path):
    args = ["--root", str(tmp_path), "--splits", "test", "--quiet"]
    for f in ("width", "height", "eval_frames", "test", "grounding_test"):
        args += ["--" + f.replace("_", "-"), str(getattr(TINY, f))]
    syn.main(args)
    ours = _tree(tmp_path)
    for name, data in ours.items():
        if name not in ("meta.json", "README.md"):
            assert (written / name).read_bytes() == data, name
    assert set(syn.read_split(tmp_path, "test")) == set(syn.read_split(written, "test"))


def test_test_split_ignores_the_training_seed():
    a = syn.make_sequence(dataclasses.replace(TINY, seed=0), "test", 1)
    b = syn.make_sequence(dataclasses.replace(TINY, seed=1), "test", 1)
    c = syn.make_sequence(dataclasses.replace(TINY, seed=1), "train", 1)
    d = syn.make_sequence(dataclasses.replace(TINY, seed=0), "train", 1)
    assert a.sentence == b.sentence and all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))
    assert not all(np.array_equal(x, y) for x, y in zip(c.frames, d.frames))


# --- layout and formats ---------------------------------------------------------------------------------

def _check_sequence_dir(seq_dir: Path, cfg: SyntheticConfig, frames: int):
    gt_lines = (seq_dir / "groundtruth.txt").read_text().splitlines()
    assert len(gt_lines) == frames
    assert all(re.fullmatch(r"\d+,\d+,\d+,\d+", line) for line in gt_lines), gt_lines
    boxes = np.array([line.split(",") for line in gt_lines], dtype=np.int64)
    flags = {}
    for name in ("full_occlusion.txt", "out_of_view.txt"):
        text = (seq_dir / name).read_text()
        assert text.count("\n") == 1 and re.fullmatch(r"[01](,[01])*\n", text), (name, text)
        flags[name] = np.array(text.strip().split(","), dtype=np.int64)
        assert len(flags[name]) == frames
    sentence = (seq_dir / "nlp.txt").read_text()
    assert sentence.count("\n") == 1 and "," not in sentence and len(sentence.split()) >= 2
    images = sorted((seq_dir / "img").iterdir())
    assert [p.name for p in images] == [f"{i:08d}.jpg" for i in range(1, frames + 1)]
    first = cv2.imread(str(images[0]))
    assert first.shape == (cfg.height, cfg.width, 3)
    # LaSOT conventions: boxes inside the image, 0,0,0,0 exactly when out of view, frame 0 visible
    oov = flags["out_of_view.txt"].astype(bool)
    assert np.all((boxes[:, 2] == 0) == oov) and np.all(boxes[oov] == 0)
    assert np.all(boxes[:, 0] + boxes[:, 2] <= cfg.width) and np.all(boxes[:, 1] + boxes[:, 3] <= cfg.height)
    assert not oov[0] and flags["full_occlusion.txt"][0] == 0
    return boxes, flags, sentence.strip()


def test_lasot_layout_and_file_formats(written):
    for split in ("train", "val", "test"):
        names = syn.read_split(written, split)
        assert len(names) == TINY.count(split)
        for name in names:
            cls = name.rsplit("-", 1)[0]
            assert cls in syn.SHAPES
            _check_sequence_dir(written / cls / name, TINY, TINY.frames(split))
    for split in ("grounding_train", "grounding_val", "grounding_test"):
        names = syn.read_split(written, split)
        assert len(names) == TINY.count(split)
        for name in names:
            _check_sequence_dir(written / "grounding" / name.rsplit("-", 1)[0] / name, TINY, 1)
    assert (written / "meta.json").is_file() and (written / "README.md").is_file()


def test_splits_are_disjoint(written):
    lists = {s: syn.read_split(written, s) for s in ("train", "val", "test")}
    assert sum(map(len, lists.values())) == len(set().union(*lists.values()))
    g = {s: syn.read_split(written, f"grounding_{s}") for s in ("train", "val", "test")}
    assert sum(map(len, g.values())) == len(set().union(*g.values()))
    first_frames = {(written / n.rsplit("-", 1)[0] / n / "img" / "00000001.jpg").read_bytes()
                    for names in lists.values() for n in names}
    assert len(first_frames) == sum(map(len, lists.values()))
    # names never depend on the other splits' counts
    assert syn.sequence_name("test", 0) == "circle-1" and syn.sequence_name("val", 9) == "square-1002"
    assert syn.sequence_name("train", 8) == "circle-2002"


def test_the_lasot_reader_reads_it(written):
    lasot = pytest.importorskip("kit.data.lasot")
    every = lasot.LaSOT(written, split="all", tag="synthetic")
    assert len(every) == TINY.train + TINY.val + TINY.test
    test = lasot.LaSOT(written, split=syn.read_split(written, "test"), tag="synthetic")
    for name in syn.read_split(written, "test"):
        seq, seq_dir = test[name], written / name.rsplit("-", 1)[0] / name
        boxes, flags, sentence = _check_sequence_dir(seq_dir, TINY, TINY.eval_frames)
        assert seq.dataset == "synthetic" and seq.sentence == sentence and len(seq) == TINY.eval_frames
        np.testing.assert_array_equal(seq.boxes, boxes)
        np.testing.assert_array_equal(seq.visible, (flags["full_occlusion.txt"] == 0) & (flags["out_of_view.txt"] == 0))
        assert all(p.is_file() for p in seq.frames)
    grounding = lasot.LaSOT(written / "grounding", split=syn.read_split(written, "grounding_test"))
    assert [len(s) for s in grounding] == [1] * TINY.grounding_test


# --- annotations match the pixels -----------------------------------------------------------------------

def test_boxes_hold_the_target_colour_on_visible_frames():
    checked = 0
    for seq in _events_sequences(6):
        vis = np.array(seq.meta["visible_fraction"])
        for t, frame in enumerate(seq.frames):
            if seq.out_of_view[t] or vis[t] < 0.8 or seq.boxes[t, 2] * seq.boxes[t, 3] < 30:
                continue
            rgb = seq.meta["target_rgb"][t]
            inside = _colour_fraction(frame, seq.boxes[t], rgb)
            assert inside > 0.15, (t, inside, seq.sentence)
            checked += 1
    assert checked > 100


def test_written_jpeg_boxes_hold_the_target_colour(written):
    for name in syn.read_split(written, "test"):
        seq_dir = written / name.rsplit("-", 1)[0] / name
        boxes, _, _ = _check_sequence_dir(seq_dir, TINY, TINY.eval_frames)
        meta = __import__("json").loads((seq_dir / "synthetic.json").read_text())
        frame = cv2.cvtColor(cv2.imread(str(seq_dir / "img" / "00000001.jpg")), cv2.COLOR_BGR2RGB)
        assert _colour_fraction(frame, boxes[0], meta["target_rgb"][0], hue_tol=14) > 0.15


def test_flags_follow_the_geometry():
    seqs = _events_sequences()
    saw_exit_and_return = saw_full_occlusion = False
    for seq in seqs:
        in_frame = np.array(seq.meta["in_frame_fraction"])
        vis = np.array(seq.meta["visible_fraction"])
        oov, occ = seq.out_of_view.astype(bool), seq.full_occlusion.astype(bool)
        np.testing.assert_array_equal(oov, in_frame < syn.OUT_OF_VIEW_FRACTION)
        np.testing.assert_array_equal(occ, ~oov & (vis < syn.FULL_OCCLUSION_FRACTION))
        assert in_frame[0] == 1 and vis[0] > 0.99
        assert np.all(seq.boxes[oov] == 0) and np.all(seq.boxes[~oov, 2:] > 0)
        if oov.any() and not oov[np.flatnonzero(oov)[-1]:].all():
            saw_exit_and_return = True
            # leaving happens at a frame edge: the last box before leaving touches the border
            t = np.flatnonzero(oov)[0] - 1
            x, y, w, h = seq.boxes[t]
            assert min(x, y) <= 1 or x + w >= EVENTS.width - 1 or y + h >= EVENTS.height - 1
        for t in np.flatnonzero(occ):
            saw_full_occlusion = True
            # hidden: the target's colour is (almost) gone from its box, and the box has the same size
            assert _colour_fraction(seq.frames[t], seq.boxes[t], seq.meta["target_rgb"][t]) < 0.1
        boxes = seq.meta["occluder_boxes"]
        if seq.meta["events"]["occluder"] is not None:
            assert len(boxes) == len(seq.frames)
            for t in np.flatnonzero(occ):  # fully hidden frames are behind the bar or another object
                bx0, by0, bx1, by1 = boxes[t]
                x, y, w, h = seq.boxes[t]
                inside_bar = x >= bx0 - 2 and y >= by0 - 2 and x + w <= bx1 + 2 and y + h <= by1 + 2
                assert inside_bar or seq.meta["visible_fraction"][t] < syn.FULL_OCCLUSION_FRACTION
    assert saw_exit_and_return and saw_full_occlusion


def test_appearance_drifts_over_the_sequence():
    for seq in _events_sequences(4):
        rgb = np.array(seq.meta["target_rgb"], dtype=float)
        assert np.abs(rgb[0] - rgb[-1]).max() > 20
        visible = np.flatnonzero((seq.out_of_view == 0) & (np.array(seq.meta["visible_fraction"]) > 0.9))
        first, last = visible[0], visible[-1]
        # the first frame's colour fills less of the last visible box than of the first one
        early = _colour_fraction(seq.frames[first], seq.boxes[first], rgb[0].astype(np.uint8))
        late = _colour_fraction(seq.frames[last], seq.boxes[last], rgb[0].astype(np.uint8))
        assert late < early
    still = syn.generate_sequence(np.random.default_rng(3), dataclasses.replace(TINY, drift=0.0), 20)
    assert len({tuple(c) for c in still.meta["target_rgb"]}) == 1


# --- sentences ------------------------------------------------------------------------------------------

def _obj(shape, colour, x, y, radius=10.0, size="small", texture="plain"):
    return SceneObject(shape=shape, colour=colour, size=size, texture=texture, x=x, y=y, radius=radius)


def test_attribute_filter_rejects_ambiguous_descriptions():
    scene = [_obj("triangle", "red", 40, 60), _obj("triangle", "red", 120, 60), _obj("ring", "blue", 80, 60),
             _obj("triangle", "green", 80, 100, size="large")]
    red_triangle = Description(colour="red", shape="triangle")
    assert referents(red_triangle, scene) == [0, 1] and not describes(red_triangle, scene, 0)
    assert describes(Description(colour="green"), scene, 3)
    assert describes(Description(size="large", shape="triangle"), scene, 3)
    assert not describes(Description(shape="triangle"), scene, 3)
    blue_ring = Description(colour="blue", shape="ring")
    assert describes(dataclasses.replace(red_triangle, relation="left_of", reference=blue_ring), scene, 0)
    assert describes(dataclasses.replace(red_triangle, relation="right_of", reference=blue_ring), scene, 1)
    assert not describes(dataclasses.replace(red_triangle, relation="left_of", reference=blue_ring), scene, 1)
    assert describes(dataclasses.replace(red_triangle, relation="leftmost"), scene, 0)
    assert describes(dataclasses.replace(red_triangle, relation="rightmost"), scene, 1)
    assert not describes(dataclasses.replace(red_triangle, relation="topmost"), scene, 0)  # a tie


def test_relations_reject_near_boundary_and_unclear_cases():
    blue_ring = Description(colour="blue", shape="ring")
    left = Description(colour="red", shape="triangle", relation="left_of", reference=blue_ring)
    clear = [_obj("triangle", "red", 40, 60), _obj("ring", "blue", 100, 60), _obj("triangle", "red", 160, 60)]
    assert describes(left, clear, 0)
    # a second red triangle arguably left of the ring (below-left, 60 degrees off): ambiguous
    arguable = clear[:2] + [_obj("triangle", "red", 80, 95)]
    assert referents(left, arguable) == [0, 2] and not describes(left, arguable, 0)
    # the only red triangle, but too close to the ring's column to be clearly "left of" it
    unclear = [_obj("triangle", "red", 90, 60), _obj("ring", "blue", 100, 60)]
    assert referents(left, unclear) == [0] and not describes(left, unclear, 0)
    # the reference must be unique
    two_rings = clear + [_obj("ring", "blue", 10, 10)]
    assert referents(left, two_rings) == [] and not describes(left, two_rings, 0)
    # superlatives need a clear gap; "nearest" needs a clear winner
    close = [_obj("star", "pink", 50, 60), _obj("star", "pink", 55, 120)]
    assert not describes(Description(shape="star", relation="leftmost"), close, 0)
    near = Description(shape="star", relation="nearest", reference=blue_ring)
    scene = [_obj("star", "pink", 70, 60), _obj("ring", "blue", 100, 60), _obj("star", "pink", 135, 60)]
    assert not describes(near, scene, 0)
    scene[2] = _obj("star", "pink", 200, 60)
    assert describes(near, scene, 0)


def test_generated_sentences_single_out_the_target():
    rng = np.random.default_rng(11)
    words = set()
    for _ in range(60):
        objects, desc = syn.sample_scene(rng, TINY)
        assert describes(desc, objects, 0) and referents(desc, objects) == [0]
        if any(o.role == "twin" for o in objects):
            assert desc.relation is not None  # an identical twin can only be told apart by a relation
        sentence = syn.realize(rng, desc, objects)
        assert "," not in sentence
        for attribute, value in desc.attributes().items():
            assert any(w in sentence for w in syn.WORDS[attribute][value]) or (
                attribute == "texture" and any(w in sentence for w in syn.TEXTURE_POSTFIX[value]))
        words |= set(sentence.split())
    assert len(words) > 60  # paraphrases and synonyms, not one template


# --- the trivial baseline -------------------------------------------------------------------------------

def test_static_baseline_repeats_the_first_box():
    seq = syn.generate_sequence(np.random.default_rng(0), TINY, 5)
    pred = syn.static_box_predictions(seq)
    assert pred.shape == (5, 4) and np.all(pred == seq.boxes[0])
    with pytest.raises(ValueError, match="shape"):
        syn.static_box_predictions(np.zeros((0, 4)))
