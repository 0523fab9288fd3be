"""Dataset readers on tiny fixtures written in the benchmarks' native formats: boxes, visibility, sentence
modes, frame order, the official quirks on request, splits, RefCOCOg protocols and safe unpickling, and
the message of every missing or malformed file."""
import json
import pickle
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from kit.data import (
    DATASETS,
    TNL2K,
    DatasetFormatError,
    LaSOT,
    OTB99Lang,
    RefCOCOg,
    load_dataset,
)
from kit.data.lasot import LASOT_ATTRIBUTES
from kit.data.lasot import split_names as lasot_split
from kit.data.otb import split_names as otb_split
from kit.data.tnl2k import TNL2K_ATTRIBUTES, sort_frame_names

BOXES = [[10, 20, 30, 40], [11, 21, 31, 41], [0, 0, 0, 0], [12.5, 22, 32, 42]]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def box_lines(boxes, sep=","):
    return "".join(sep.join(str(v) for v in box) + "\n" for box in boxes)


def write_jpeg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8, 3), 127, np.uint8))


def lasot_seq(root: Path, name: str, boxes=BOXES, occlusion=None, out_of_view=None,
              sentence="the red car on the left\n", images=False) -> Path:
    seq = root / name.rsplit("-", 1)[0] / name
    n = len(boxes)
    write(seq / "groundtruth.txt", box_lines(boxes))
    write(seq / "full_occlusion.txt", ",".join(map(str, occlusion or [0] * n)) + "\n")
    write(seq / "out_of_view.txt", ",".join(map(str, out_of_view or [0] * n)) + "\n")
    write(seq / "nlp.txt", sentence)
    if images:
        for i in range(1, n + 1):
            write_jpeg(seq / "img" / f"{i:08d}.jpg")
    return seq


# --- LaSOT -------------------------------------------------------------------------------------------------

def test_lasot_sequence_without_images(tmp_path):
    lasot_seq(tmp_path, "car-2", occlusion=[0, 1, 0, 0], out_of_view=[0, 0, 1, 0])
    seq = LaSOT(tmp_path, split=["car-2"])["car-2"]
    assert seq.dataset == "lasot" and seq.name == "car-2" and len(seq) == 4
    np.testing.assert_array_equal(seq.boxes, np.array(BOXES, dtype=np.float64))
    assert seq.boxes.dtype == np.float64
    assert seq.frames[0] == tmp_path / "car" / "car-2" / "img" / "00000001.jpg"
    assert seq.frames[-1].name == "00000004.jpg" and not seq.frames[0].exists()
    assert seq.visible.dtype == bool and seq.visible.tolist() == [True, False, False, True]
    assert seq.sentence == "the red car on the left" and seq.attributes == {}


def test_lasot_all_split_is_every_sequence_directory_in_natural_order(tmp_path):
    for name in ["car-10", "car-2", "bird-1", "car-1"]:
        lasot_seq(tmp_path, name)
    (tmp_path / "car" / "notes").mkdir()        # not <class>-<n>: ignored
    write(tmp_path / "README.txt", "not a class")
    data = LaSOT(tmp_path, split="all")
    assert data.names == ["bird-1", "car-1", "car-2", "car-10"]
    assert [s.name for s in data] == data.names and data[1].name == "car-1"
    with pytest.raises(KeyError, match="horse-1"):
        data["horse-1"]


def test_lasot_shipped_splits_are_protocol_ii():
    test, train = lasot_split("test"), lasot_split("train")
    assert len(test) == len(set(test)) == 280 and len(train) == len(set(train)) == 1120
    classes = {n.rsplit("-", 1)[0] for n in test}
    assert len(classes) == 70
    assert set(test) | set(train) == {f"{c}-{i}" for c in classes for i in range(1, 21)}
    assert test[:4] == ["gorilla-13", "gorilla-9", "gorilla-6", "gorilla-4"] and test[-1] == "tank-6"


def test_lasot_official_split_reports_missing_sequences(tmp_path):
    lasot_seq(tmp_path, "gorilla-13")
    with pytest.raises(DatasetFormatError, match=r"279 of the 280 sequences of split 'test' are missing"):
        LaSOT(tmp_path, split="test")


@pytest.mark.parametrize("mode, expected", [
    ("clean", "a man in black, riding a bike # fast"),
    ("official_test", "['a man in black' ' riding a bike ']"),   # '#' starts a comment for np.loadtxt
    ("official_train", "a man in black"),
    (None, ""),
])
def test_lasot_sentence_modes_with_commas_and_hash(tmp_path, mode, expected):
    lasot_seq(tmp_path, "person-1", sentence="a man in black, riding a bike # fast\n")
    assert LaSOT(tmp_path, split="all", sentence_mode=mode)[0].sentence == expected


@pytest.mark.parametrize("mode, expected", [
    ("clean", "a white dog running on grass"),
    ("official_test", "['a white dog' 'running on grass']"),
    ("official_train", "a white dog"),
])
def test_lasot_sentence_modes_multi_line(tmp_path, mode, expected):
    lasot_seq(tmp_path, "dog-3", sentence="a white dog\nrunning on grass\n")
    assert LaSOT(tmp_path, split="all", sentence_mode=mode)[0].sentence == expected


def test_lasot_attributes(tmp_path):
    lasot_seq(tmp_path, "car-1")
    lasot_seq(tmp_path, "car-2")
    flags = [0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0]
    write(tmp_path / "att" / "car-1.txt", ",".join(map(str, flags)) + "\n")
    data = LaSOT(tmp_path, split="all")
    assert data["car-1"].attributes == {k: bool(f) for k, f in zip(LASOT_ATTRIBUTES, flags)}
    assert data["car-1"].attributes["POC"] and not data["car-1"].attributes["IV"]
    assert data["car-2"].attributes == {}
    write(tmp_path / "att" / "car-2.txt", "0,1,0\n")
    with pytest.raises(DatasetFormatError, match=r"car-2\.txt: 3 attribute flags but 14 were expected"):
        data["car-2"]


def test_lasot_empty_boxes_are_valid(tmp_path):
    seq_dir = lasot_seq(tmp_path, "cat-1", boxes=[[1, 2, 3, 4]] * 3)
    write(seq_dir / "groundtruth.txt", "1,2,3,4\nNaN,NaN,NaN,NaN\n0,0,0,0\n\n")
    boxes = LaSOT(tmp_path, split="all")[0].boxes
    assert boxes.shape == (3, 4) and np.isnan(boxes[1]).all() and (boxes[2] == 0).all()


@pytest.mark.parametrize("file, content, message", [
    ("groundtruth.txt", "1,2,3,4\n5,6,7,8\n12,13,x,4\n1,2,3,4\n",
     r'groundtruth\.txt line 3: expected 4 numbers, got "12,13,x,4"'),
    ("groundtruth.txt", "1,2,3,4\n\n5,6,7\n1,2,3,4\n", r'groundtruth\.txt line 3: expected 4 numbers, got "5,6,7"'),
    ("groundtruth.txt", "", r"groundtruth\.txt: no boxes"),
    ("full_occlusion.txt", "0,0,1\n", r"full_occlusion\.txt: 3 occlusion flags but 4 were expected"),
    ("out_of_view.txt", "0,0,\n0,yes\n", r'out_of_view\.txt line 1: expected integer out-of-view flags .*got ""'),
    ("out_of_view.txt", "0,0\n0,yes\n", r'out_of_view\.txt line 2: expected integer out-of-view flags .*got "yes"'),
    ("nlp.txt", " \n", r"nlp\.txt holds no sentence"),
])
def test_lasot_malformed_files_name_file_and_line(tmp_path, file, content, message):
    seq_dir = lasot_seq(tmp_path, "car-1")
    write(seq_dir / file, content)
    data = LaSOT(tmp_path, split="all")
    with pytest.raises(DatasetFormatError, match=message):
        data[0]


@pytest.mark.parametrize("file", ["groundtruth.txt", "full_occlusion.txt", "out_of_view.txt", "nlp.txt"])
def test_lasot_missing_files_are_named(tmp_path, file):
    seq_dir = lasot_seq(tmp_path, "car-1")
    (seq_dir / file).unlink()
    with pytest.raises(DatasetFormatError, match=rf"car-1/{file}: file not found"):
        LaSOT(tmp_path, split="all")[0]


def test_lasot_official_test_sentence_with_ragged_lines_is_an_error(tmp_path):
    lasot_seq(tmp_path, "car-1", sentence="a, b\nc\n")
    with pytest.raises(DatasetFormatError, match=r"nlp\.txt"):
        LaSOT(tmp_path, split="all", sentence_mode="official_test")[0]


def test_lasot_check_images(tmp_path):
    seq_dir = lasot_seq(tmp_path, "car-1", images=True)
    assert len(LaSOT(tmp_path, split="all", check_images=True)[0]) == 4
    (seq_dir / "img" / "00000003.jpg").unlink()
    with pytest.raises(DatasetFormatError, match=r"00000003\.jpg: file not found \(1 of the 4 images"):
        LaSOT(tmp_path, split="all", check_images=True)[0]


def test_lasot_missing_root(tmp_path):
    with pytest.raises(DatasetFormatError, match="LaSOT root directory not found"):
        LaSOT(tmp_path / "nowhere")


# --- TNL2K -------------------------------------------------------------------------------------------------

def tnl2k_seq(root: Path, name: str, image_names, boxes, sentence="the girl in a red coat\n") -> Path:
    seq = root / name
    write(seq / "groundtruth.txt", box_lines(boxes))
    write(seq / "language.txt", sentence)
    (seq / "imgs").mkdir(parents=True)
    for image in image_names:
        (seq / "imgs" / image).write_bytes(b"")   # the reader never opens them
    return seq


def test_tnl2k_frames_sorted_by_leading_integer_and_paired_with_boxes(tmp_path):
    names = ["10.jpg", "2.jpg", "1.jpg", "00003.jpg"]
    boxes = [[1, 1, 5, 5], [2, 2, 5, 5], [3, 3, 0, 5], [10, 10, 5, 5]]
    tnl2k_seq(tmp_path, "Girl_video_1", names, boxes)
    seq = TNL2K(tmp_path)[0]
    assert seq.dataset == "tnl2k" and seq.sentence == "the girl in a red coat"
    assert [f.name for f in seq.frames] == ["1.jpg", "2.jpg", "00003.jpg", "10.jpg"]   # frame i <-> box i
    assert seq.visible.tolist() == [True, True, False, True]

    official = TNL2K(tmp_path, official_train_offset=True)[0]    # docs/official-code.md, quirk 17: image i-1 with box i
    assert [f.name for f in official.frames] == ["10.jpg", "1.jpg", "2.jpg", "00003.jpg"]
    np.testing.assert_array_equal(official.boxes, seq.boxes)


def test_tnl2k_sort_falls_back_to_plain_order_with_a_warning():
    with pytest.warns(UserWarning, match="'frame_a.jpg' does not start with a frame number"):
        assert sort_frame_names(["2.jpg", "frame_a.jpg", "10.jpg"]) == ["10.jpg", "2.jpg", "frame_a.jpg"]


def test_tnl2k_lists_every_sub_directory_and_reads_attributes(tmp_path):
    tnl2k_seq(tmp_path, "b_seq", ["1.png"], [[1, 2, 3, 4]])
    tnl2k_seq(tmp_path, "a_seq", ["1.png"], [[1, 2, 3, 4]])
    flags = [1, 0] * 8 + [1]
    write(tmp_path / "a_seq" / "attributes.txt", ",".join(map(str, flags)) + "\n")
    data = TNL2K(tmp_path)
    assert data.names == ["a_seq", "b_seq"]
    assert data["a_seq"].attributes == {k: bool(f) for k, f in zip(TNL2K_ATTRIBUTES, flags)}
    assert data["b_seq"].attributes == {} and TNL2K(tmp_path, attributes=False)["a_seq"].attributes == {}
    toolkit = tmp_path.parent / "annos_att"
    write(toolkit / "b_seq_attribute.txt", " ".join(["0"] * 17) + "\n")
    assert not any(TNL2K(tmp_path, attributes_dir=toolkit)["b_seq"].attributes.values())


def test_tnl2k_annotation_only_copy_and_count_mismatch(tmp_path):
    seq = tnl2k_seq(tmp_path, "s1", ["1.jpg", "2.jpg"], [[1, 2, 3, 4]] * 3)
    with pytest.warns(UserWarning, match="2 images in imgs/ but 3 boxes"):
        TNL2K(tmp_path)[0]
    for image in (seq / "imgs").iterdir():
        image.unlink()
    (seq / "imgs").rmdir()
    with pytest.warns(UserWarning, match="1 of 1 sequences have no imgs/ folder"):
        data = TNL2K(tmp_path)
    assert data[0].frames == [] and data[0].boxes.shape == (3, 4)
    with pytest.raises(DatasetFormatError, match=r"s1/imgs: image folder not found"):
        TNL2K(tmp_path, check_images=True)[0]


def test_tnl2k_malformed_and_missing_files(tmp_path):
    seq = tnl2k_seq(tmp_path, "s1", ["1.jpg"], [[1, 2, 3, 4]])
    write(seq / "groundtruth.txt", "1,2,3,4\n1 2 3 4 5\n")
    with pytest.raises(DatasetFormatError, match=r'groundtruth\.txt line 2: expected 4 numbers, got "1,2,3,4,5"'):
        TNL2K(tmp_path)[0]
    write(seq / "groundtruth.txt", "1,2,3,4\n")
    (seq / "language.txt").unlink()
    with pytest.raises(DatasetFormatError, match=r"s1/language\.txt: file not found"):
        TNL2K(tmp_path)[0]
    assert TNL2K(tmp_path, sentence_mode=None)[0].sentence == ""
    write(seq / "attributes.txt", "1,0,1\n")
    with pytest.raises(DatasetFormatError, match=r"attributes\.txt: 3 attribute flags but 17 were expected"):
        TNL2K(tmp_path, sentence_mode=None)[0]


# --- OTB99-lang --------------------------------------------------------------------------------------------

def otb_seq(root: Path, name: str, gt_text: str, n_images: int, split="test", sentence="a bird\n") -> Path:
    seq = root / "OTB_videos" / name
    write(seq / "groundtruth_rect.txt", gt_text)
    write(root / f"OTB_query_{split}" / f"{name}.txt", sentence)
    (seq / "img").mkdir(parents=True)
    for i in range(1, n_images + 1):
        (seq / "img" / f"{i:04d}.jpg").write_bytes(b"")
    return seq


@pytest.mark.parametrize("gt_text", ["1,2,3,4\n5,6,7,8\n", "1\t2\t3\t4\n5\t6\t7\t8\n", "1 2  3 4\n5, 6, 7, 8\n"])
def test_otb_ground_truth_comma_or_whitespace(tmp_path, gt_text):
    otb_seq(tmp_path, "Bird1", gt_text, 2)
    seq = OTB99Lang(tmp_path, split=["Bird1"])[0]
    np.testing.assert_array_equal(seq.boxes, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert seq.dataset == "otb" and seq.sentence == "a bird"
    assert [f.name for f in seq.frames] == ["0001.jpg", "0002.jpg"]


def test_otb_frames_follow_image_count_and_warn_on_mismatch(tmp_path):
    otb_seq(tmp_path, "BlurCar1", "1,2,3,4\n0,0,0,0\n", 3)
    with pytest.warns(UserWarning, match="3 files in img/ but 2 boxes"):
        seq = OTB99Lang(tmp_path, split=["BlurCar1"])[0]
    assert len(seq.frames) == 3 and seq.visible.tolist() == [True, False]


def test_otb_splits_and_query_folders(tmp_path):
    test, train = otb_split("test"), otb_split("train")
    assert (len(test), test[0], test[-1]) == (48, "Biker", "Vase")
    assert (len(train), train[0], train[-1]) == (51, "Basketball", "Woman") and not set(test) & set(train)
    otb_seq(tmp_path, "Basketball", "1,2,3,4\n", 1, split="train", sentence="player in white, number 9\n")
    seq = OTB99Lang(tmp_path, split=["Basketball"], sentence_mode="official_train")[0]   # found in train queries
    assert seq.sentence == "player in white"
    otb_seq(tmp_path, "Biker", "1,2,3,4\n", 1)
    with pytest.raises(DatasetFormatError, match=r"47 of the 48 sequences are missing"):
        OTB99Lang(tmp_path, split="test")


def test_otb_five_digit_frames_and_missing_files(tmp_path):
    seq_dir = otb_seq(tmp_path, "Board", "1,2,3,4\n", 0)
    (seq_dir / "img" / "00001.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="official reader"):
        assert OTB99Lang(tmp_path, split=["Board"])[0].frames[0].name == "00001.jpg"
    (tmp_path / "OTB_query_test" / "Board.txt").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the five-digit warning again
        with pytest.raises(DatasetFormatError, match=r"OTB_query_train/Board\.txt: file not found"):
            OTB99Lang(tmp_path, split=["Board"])[0]
        (tmp_path / "OTB_videos" / "Board" / "groundtruth_rect.txt").unlink()
        with pytest.raises(DatasetFormatError, match=r"Board/groundtruth_rect\.txt: file not found"):
            OTB99Lang(tmp_path, split=["Board"])[0]


# --- RefCOCOg ----------------------------------------------------------------------------------------------

def refcocog_root(tmp_path: Path, refs=None) -> Path:
    refs = refs if refs is not None else [
        {"ref_id": 7, "ann_id": 100, "image_id": 1, "split": "val", "category_id": 1,
         "sentences": [{"sent": "the man on the left", "raw": "The man on the left."},
                       {"sent": "a man in a blue shirt", "raw": "A man in a blue shirt"}]},
        {"ref_id": 8, "ann_id": 101, "image_id": 1, "split": "train", "sentences": [{"sent": "the dog"}]},
        {"ref_id": 9, "ann_id": 102, "image_id": 2, "split": "val", "sentences": [{"sent": "the crowd"}]},
        {"ref_id": 10, "ann_id": 103, "image_id": 2, "split": "val", "sentences": [{"sent": "the red kite"}]},
    ]
    coco = {"images": [{"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "width": 64, "height": 48},
                       {"id": 2, "file_name": "COCO_train2014_000000000002.jpg", "width": 64, "height": 48}],
            "annotations": [{"id": 100, "image_id": 1, "bbox": [1.5, 2, 30, 40], "iscrowd": 0, "category_id": 1},
                            {"id": 101, "image_id": 1, "bbox": [5, 5, 10, 10], "iscrowd": 0, "category_id": 18},
                            {"id": 102, "image_id": 2, "bbox": [0, 0, 60, 40], "iscrowd": 1, "category_id": 1},
                            {"id": 103, "image_id": 2, "bbox": [3, 4, 5, 6], "iscrowd": 0, "category_id": 38}]}
    (tmp_path / "refcocog").mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "refcocog" / "refs(google).p", "wb") as f:
        pickle.dump(refs, f, protocol=2)   # the REFER files are Python 2 pickles
    write(tmp_path / "refcocog" / "instances.json", json.dumps(coco, indent=1))
    return tmp_path


def test_refcocog_split_crowd_sentences_and_protocols(tmp_path):
    data = RefCOCOg(refcocog_root(tmp_path), split="val")
    assert [r.ref_id for r in data] == [7, 10]                # ref 9 is a crowd annotation
    first = data[0]
    assert first.image == tmp_path / "images/mscoco/images/train2014/COCO_train2014_000000000001.jpg"
    np.testing.assert_array_equal(first.box, [1.5, 2, 30, 40]) and first.box.dtype == np.float64
    assert first.sentences == ["the man on the left", "a man in a blue shirt"] and first.split == "val"
    assert [(r.ref_id, i, s) for r, i, s in data.iter_expressions()] == [
        (7, 1, "a man in a blue shirt"), (10, 0, "the red kite")]     # official: last sentence (#29)
    assert [(r.ref_id, i) for r, i, _ in data.iter_expressions("per_expression")] == [(7, 0), (7, 1), (10, 0)]
    assert [r.ref_id for r in RefCOCOg(tmp_path, split="train")] == [8]
    with pytest.raises(ValueError, match="no refs with split 'test'.*split_by='umd'"):
        RefCOCOg(tmp_path, split="test")
    with pytest.raises(ValueError, match="protocol"):
        next(data.iter_expressions("all"))
    with pytest.raises(DatasetFormatError, match=r"COCO_train2014_000000000001\.jpg: file not found"):
        RefCOCOg(tmp_path, split="val", check_images=True)


class _Malicious:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")   # would create the marker file if the reader ran it


def test_refcocog_refuses_a_malicious_refs_file(tmp_path):
    marker = tmp_path / "pwned"
    root = refcocog_root(tmp_path)
    with open(root / "refcocog" / "refs(google).p", "wb") as f:
        pickle.dump([{"ref_id": 1, "payload": _Malicious(marker)}], f, protocol=2)
    with pytest.raises(DatasetFormatError, match=r"refs\(google\)\.p: not a REFER refs pickle .*refused .*open"):
        RefCOCOg(root)
    assert not marker.exists()


@pytest.mark.parametrize("refs, message", [
    ({"not": "a list"}, r"expected a list of refs, got dict"),
    ([{"ref_id": 3, "split": "val", "sentences": [{"sent": "x"}]}], r"ref 0 \(ref_id 3\) has no 'ann_id'"),
    ([{"ref_id": 3, "ann_id": 100, "split": "val", "sentences": []}], r"ref 0 \(ref_id 3\): 'sentences' must be"),
    ([{"ref_id": 3, "ann_id": 999, "split": "val", "sentences": [{"sent": "x"}]}], r"ann_id 999"),
])
def test_refcocog_malformed_refs(tmp_path, refs, message):
    with pytest.raises(DatasetFormatError, match=message):
        RefCOCOg(refcocog_root(tmp_path, refs=refs))


def test_refcocog_malformed_and_missing_instances(tmp_path):
    root = refcocog_root(tmp_path)
    write(root / "refcocog" / "instances.json", '{\n "images": [],\n "annotations": [,]\n}\n')
    with pytest.raises(DatasetFormatError, match=r"instances\.json line 3: invalid JSON"):
        RefCOCOg(root)
    write(root / "refcocog" / "instances.json", json.dumps({"images": [], "annotations": [{"id": 1, "image_id": 1}]}))
    with pytest.raises(DatasetFormatError, match=r"instances\.json: annotations\[0\] has no 'bbox'"):
        RefCOCOg(root)
    (root / "refcocog" / "instances.json").unlink()
    with pytest.raises(DatasetFormatError, match=r"instances\.json: file not found"):
        RefCOCOg(root)
    with pytest.raises(DatasetFormatError, match=r"refs\(umd\)\.p: file not found"):
        RefCOCOg(root, split_by="umd")


# --- load_dataset ------------------------------------------------------------------------------------------

def test_load_dataset_maps_every_name(tmp_path):
    assert set(DATASETS) == {"lasot", "tnl2k", "otb", "refcocog", "synthetic", "semireal"}
    lasot_seq(tmp_path / "lasot", "car-1")
    tnl2k_seq(tmp_path / "tnl2k", "s1", ["1.jpg"], [[1, 2, 3, 4]])
    otb_seq(tmp_path / "otb", "Bird1", "1,2,3,4\n", 1)
    refcocog_root(tmp_path / "coco")
    assert isinstance(load_dataset("lasot", tmp_path / "lasot", split="all"), LaSOT)
    assert isinstance(load_dataset("tnl2k", tmp_path / "tnl2k"), TNL2K)
    assert isinstance(load_dataset("otb", tmp_path / "otb", split=["Bird1"]), OTB99Lang)
    assert isinstance(load_dataset("refcocog", tmp_path / "coco", split="val"), RefCOCOg)
    with pytest.raises(ValueError, match="unknown dataset 'got10k'"):
        load_dataset("got10k", tmp_path)


def test_load_synthetic_uses_the_lasot_layout_and_split_files(tmp_path):
    for name in ["shapes-1", "shapes-2", "shapes-3"]:
        lasot_seq(tmp_path, name)
    write(tmp_path / "test.txt", "shapes-3\nshapes-1\n")
    everything = load_dataset("synthetic", tmp_path)
    assert everything.names == ["shapes-1", "shapes-2", "shapes-3"] and everything[0].dataset == "synthetic"
    assert load_dataset("synthetic", tmp_path, split="test").names == ["shapes-3", "shapes-1"]
    with pytest.raises(DatasetFormatError, match=r"val\.txt: file not found"):
        load_dataset("synthetic", tmp_path, split="val")
    lasot_seq(tmp_path / "grounding", "ring-7", boxes=[[1, 2, 3, 4]])   # grounding-only images, 1 frame each
    write(tmp_path / "grounding" / "test.txt", "ring-7\n")
    assert load_dataset("synthetic", tmp_path, split="grounding_test").names == ["ring-7"]
    assert load_dataset("synthetic", tmp_path).names == ["shapes-1", "shapes-2", "shapes-3"]   # grounding/ apart


def test_readers_do_not_warn_on_clean_fixtures(tmp_path):
    lasot_seq(tmp_path, "car-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(LaSOT(tmp_path, split="all")[0]) == 4
