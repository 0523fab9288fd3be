"""Benchmark evaluation: result files in the official format, scoring from annotations only (checked against
the metrics and hand values), failures named, reports and plots, resumable and sharded runs, `run` end to
end with a tiny model, RefCOCOg grounding under both protocols, and the paper table."""
import csv
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import PIL.Image
import pytest
import torch

from kit.weights.loading import load_model
from kit.data import LaSOT, RefCOCOg
from kit.data.lasot import LASOT_ATTRIBUTES
from kit.data.tnl2k import TNL2K_ATTRIBUTES
from kit.evaluate import EXIT_BAD_INPUT, EXIT_OK, main
from kit.evaluation.grounding import evaluate_grounding
from kit.evaluation.metrics import average_over_sequences, continuous_iou_xyxy, sequence_curves
from kit.evaluation.results import (ResultFileError, is_complete, read_result, read_times, result_file,
                                    write_result)
from kit.evaluation.runner import parse_shard, run_benchmark, select_sequences
from kit.evaluation.scoring import MissingResultsError, load_ground_truth, score_trackers
from kit.text import SentenceEncoder

W, H, N = 64, 48, 6
FULL = 100 * 20 / 21  # AUC of a perfect sequence: the threshold 1.0 never succeeds


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def gt_boxes(k: int) -> np.ndarray:
    """A box moving right by 2 px a frame; sequence k starts lower."""
    return np.array([[8 + 2 * i, 6 + 3 * k, 20, 16] for i in range(N)], dtype=np.float64)


def write_frames(folder: Path, boxes: np.ndarray, pattern: str) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (x, y, w, h) in enumerate(boxes.astype(int)):
        image = rng.integers(80, 120, (H, W, 3), dtype=np.uint8)
        image[y:y + h, x:x + w] = (30, 30, 220)  # BGR red
        assert cv2.imwrite(str(folder / pattern.format(i + 1)), image)


LASOT_SEQS = {"cat-1": 0, "cat-2": 1, "dog-1": 2}
LASOT_ATTS = {"cat-1": {"IV"}, "cat-2": {"POC", "FOC"}, "dog-1": {"IV", "POC"}}


def make_lasot(root: Path, images: bool) -> Path:
    """Three 6-frame sequences in LaSOT's layout; cat-2 is fully occluded in frame 3. Also `test.txt`, so
    the folder is a synthetic-benchmark root too."""
    for name, k in LASOT_SEQS.items():
        seq = root / name.rsplit("-", 1)[0] / name
        boxes = gt_boxes(k)
        occluded = [0] * N
        if name == "cat-2":
            occluded[3], boxes[3] = 1, 0
        write(seq / "groundtruth.txt", "".join(",".join(f"{v:g}" for v in b) + "\n" for b in boxes))
        write(seq / "full_occlusion.txt", ",".join(map(str, occluded)) + "\n")
        write(seq / "out_of_view.txt", ",".join("0" * N) + "\n")
        write(seq / "nlp.txt", f"the red {name.split('-')[0]} on the grey floor\n")
        write(root / "att" / f"{name}.txt", ",".join(str(int(a in LASOT_ATTS[name])) for a in LASOT_ATTRIBUTES))
        if images:
            write_frames(seq / "img", boxes, "{:08d}.jpg")
    write(root / "test.txt", "\n".join(LASOT_SEQS) + "\n")
    return root


def make_tnl2k(root: Path, images: bool) -> Path:
    """Two 6-frame TNL2K sequences with `attributes.txt`; seqB's target is absent (0,0,0,0) in frame 2."""
    for k, name in enumerate(["seqA", "seqB"]):
        boxes = gt_boxes(k)
        if name == "seqB":
            boxes[2] = 0
        write(root / name / "groundtruth.txt", "".join(",".join(f"{v:g}" for v in b) + "\n" for b in boxes))
        write(root / name / "language.txt", "the red box\n")
        write(root / name / "attributes.txt", ",".join("1" if a in ("CM", "AS") and k == 0 else "0"
                                                       for a in TNL2K_ATTRIBUTES))
        if images:
            write_frames(root / name / "imgs", boxes, "{:05d}.jpg")
    return root


def write_tracker(results: Path, tracker: str, boxes_by_seq: dict, seconds: float | None = None) -> None:
    for name, boxes in boxes_by_seq.items():
        write_result(results, tracker, name, boxes, [seconds or 0.0] * len(boxes))
        if seconds is None:
            (results / tracker / f"{name}_time.txt").unlink()


def shifted(boxes: np.ndarray, dx: float) -> np.ndarray:
    out = boxes.copy()
    out[:, 0] += dx
    return out


@pytest.fixture()
def no_image_reads(monkeypatch):
    """Any attempt to open an image fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"an image was opened: {args[:1]}")
    monkeypatch.setattr(cv2, "imread", refuse)
    monkeypatch.setattr(PIL.Image, "open", refuse)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: the tiny model on one thread


# --- result files ----------------------------------------------------------------------------------------

def test_result_files_are_the_official_format_and_read_back_tolerantly(tmp_path):
    path = write_result(tmp_path, "ours", "cat-1", [[10.9, 20.2, 30.99, 40.5], [-2.7, 0.4, 11, 12]], [0.25, 0.125])
    assert path == tmp_path / "ours" / "cat-1.txt"
    assert path.read_text() == "10\t20\t30\t40\n-2\t0\t11\t12\n"       # astype(int): truncation toward 0
    assert (tmp_path / "ours" / "cat-1_time.txt").read_text() == "0.250000\n0.125000\n"
    for text in ("1,2,3,4\n5,6,7,8\n", "1 2 3 4\n5  6 7 8\n\n", "1\t2\t3\t4\n5.0, 6.0, 7.0, 8.0\n"):
        np.testing.assert_array_equal(read_result(write(tmp_path / "r.txt", text)), [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_allclose(read_times(write(tmp_path / "t.txt", "0.5\n0.25,0.25\n")), [0.5, 0.25, 0.25])
    assert is_complete(tmp_path, "ours", "cat-1", 2) and not is_complete(tmp_path, "ours", "cat-1", 3)
    with pytest.raises(ResultFileError, match=r"r\.txt:1: expected 4 values"):
        read_result(write(tmp_path / "r.txt", "1,2,3\n"))
    with pytest.raises(ResultFileError, match=r"r\.txt: the result file is empty"):
        read_result(write(tmp_path / "r.txt", "\n"))
    with pytest.raises(ResultFileError, match=r"nope\.txt: result file not found"):
        read_result(tmp_path / "nope.txt")


# --- scoring ---------------------------------------------------------------------------------------------

def test_scores_match_the_metrics_and_hand_values_from_annotations_only(tmp_path, no_image_reads):
    root, results = make_lasot(tmp_path / "lasot", images=False), tmp_path / "results"
    sequences = load_ground_truth("lasot", root, "all")
    assert [s.name for s in sequences] == list(LASOT_SEQS) and not any(p.exists() for p in sequences[0].frames)
    write_tracker(results, "perfect", {s.name: s.boxes for s in sequences})
    write_tracker(results, "shifted", {s.name: shifted(s.boxes, 5.6 + s.boxes[0, 1] / 10) for s in sequences})
    perfect, moved = score_trackers(results, ["perfect", "shifted"], sequences)

    # Perfect boxes: every visible frame succeeds; cat-2's occluded frame fails in every measure (LaSOT).
    expected = (FULL + FULL + FULL * 5 / 6) / 3
    assert perfect.overall.auc == pytest.approx(expected)
    assert perfect.overall.precision == pytest.approx((100 + 100 + 100 * 5 / 6) / 3)
    assert perfect.overall.norm_precision == pytest.approx((100 + 100 + 100 * 5 / 6) / 3)
    assert not perfect.failures and perfect.fps is None                        # no time files
    # The shifted tracker equals the metrics module on the int-truncated boxes.
    direct = average_over_sequences([
        sequence_curves(np.trunc(shifted(s.boxes, 5.6 + s.boxes[0, 1] / 10)), s.boxes, s.visible, "lasot")
        for s in sequences])
    np.testing.assert_allclose(moved.overall.success_curve, direct.success_curve)
    np.testing.assert_allclose(moved.overall.precision_curve, direct.precision_curve)
    np.testing.assert_allclose(moved.overall.norm_precision_curve, direct.norm_precision_curve)
    assert moved.overall.auc < perfect.overall.auc


def test_tnl2k_scores_with_its_rules_and_attributes(tmp_path, no_image_reads):
    root, results = make_tnl2k(tmp_path / "tnl2k", images=False), tmp_path / "results"
    sequences = load_ground_truth("tnl2k", root)
    assert sequences[0].attributes["CM"] and not sequences[1].attributes["CM"]
    write_tracker(results, "t", {s.name: shifted(s.boxes, 3) for s in sequences})
    (score,) = score_trackers(results, ["t"], sequences)
    direct = average_over_sequences([sequence_curves(np.trunc(shifted(s.boxes, 3)), s.boxes, None, "tnl2k")
                                     for s in sequences])
    assert score.overall.auc == pytest.approx(direct.auc)
    assert score.overall.norm_precision == pytest.approx(direct.norm_precision)  # invalid frame counts (quirk)
    write(tmp_path / "annos" / "seqB_attribute.txt", ",".join("1" for _ in TNL2K_ATTRIBUTES))  # toolkit layout
    toolkit = load_ground_truth("tnl2k", root, attributes_dir=tmp_path / "annos")
    assert toolkit[0].attributes == {} and all(toolkit[1].attributes.values())


def test_missing_and_malformed_files_stop_by_default_with_one_summary_line(tmp_path, capsys, no_image_reads):
    root, results = make_lasot(tmp_path / "lasot", images=False), tmp_path / "results"
    sequences = load_ground_truth("lasot", root, "all")
    gt = {s.name: s.boxes for s in sequences}
    write_tracker(results, "perfect", gt)
    write_tracker(results, "broken", {"dog-1": gt["dog-1"]})                     # cat-1 missing
    write(results / "broken" / "cat-2.txt", "1,2,x,4\n" * N)                     # malformed
    write_tracker(results, "short", {n: b[:4] for n, b in gt.items()})           # LaSOT needs every frame
    with pytest.raises(MissingResultsError) as err:
        score_trackers(results, ["perfect", "broken", "short"], sequences)
    message = str(err.value)
    assert "\n" not in message and message.startswith("5 result files missing or unusable ('broken' 2 of 3, "
                                                       "'short' 3 of 3); first 3: ")
    assert "broken/cat-1.txt: result file not found" in message and "--missing zero" in message

    argv = ["score", "--dataset", "lasot", "--split", "all", "--root", str(root), "--results", str(results)]
    assert main(argv) == EXIT_BAD_INPUT
    out, printed = capsys.readouterr()
    assert out == "" and printed.count("\n") == 1 and printed.startswith("error: 5 result files missing")
    assert not (tmp_path / "results-report").exists()

    _, broken, short = score_trackers(results, ["perfect", "broken", "short"], sequences, missing="zero")
    problems = {s.name: s.problem for s in broken.failures}
    assert set(problems) == {"cat-1", "cat-2"} and broken.lacking == ("cat-1", "cat-2")
    assert problems["cat-1"].endswith("broken/cat-1.txt: result file not found")
    assert "broken/cat-2.txt" in problems["cat-2"] and "'x'" in problems["cat-2"]
    assert len(short.failures) == 3 and "4 frames but the ground truth has 6" in short.failures[0].problem

    skipped = score_trackers(results, ["perfect", "broken"], sequences, missing="skip")
    assert [[s.name for s in t.sequences] for t in skipped] == [["dog-1"], ["dog-1"]]
    assert skipped[1].overall.auc == pytest.approx(FULL) and skipped[1].lacking == ("cat-1", "cat-2")

    assert main([*argv, "--trackers", "perfect", "broken", "--out", str(tmp_path / "rep"), "--missing",
                 "zero"]) == EXIT_OK
    out, printed = capsys.readouterr()
    assert "| Missing (zero) |" in out and "| broken |" in out and "mode `zero`" in out
    assert printed.count("note: sequences without usable results (broken 2), zero mode") == 1
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "broken / cat-1:" in report and "broken / cat-2:" in report and "perfect / " not in report


@pytest.mark.parametrize("dataset", ["lasot", "tnl2k"])
def test_a_failed_sequence_scores_exactly_as_an_all_zero_result_file(tmp_path, dataset, no_image_reads):
    root = (make_lasot if dataset == "lasot" else make_tnl2k)(tmp_path / dataset, images=False)
    sequences = load_ground_truth(dataset, root, "all" if dataset == "lasot" else None)
    results = tmp_path / "results"
    write_tracker(results, "zeros", {s.name: np.zeros_like(s.boxes) for s in sequences})
    (results / "absent").mkdir()
    zeros, absent = score_trackers(results, ["zeros", "absent"], sequences, missing="zero")
    assert not zeros.failures and len(absent.failures) == len(sequences)
    for a, b in zip(zeros.sequences, absent.sequences):
        for curve in ("success_curve", "precision_curve", "norm_precision_curve"):
            assert np.array_equal(getattr(a.result, curve), getattr(b.result, curve))
    assert absent.overall.scores() == zeros.overall.scores()
    assert absent.overall.auc > 0  # frame 0 is the ground truth, as for any result file
    if dataset == "tnl2k":  # seqB's frame 2 has no target: an NP hit under the toolkit's rules
        seq_b = absent.sequences[1].result
        assert seq_b.norm_precision_curve[20] * N == pytest.approx(2)  # frame 0 and the empty frame 2


def test_score_writes_tables_plots_speed_and_attributes(tmp_path, capsys, no_image_reads):
    root, results = make_lasot(tmp_path / "lasot", images=False), tmp_path / "results"
    sequences = load_ground_truth("lasot", root, "all")
    write_tracker(results, "perfect", {s.name: s.boxes for s in sequences}, seconds=0.25)
    write_tracker(results, "shifted", {s.name: shifted(s.boxes, 6) for s in sequences})
    assert main(["score", "--dataset", "synthetic", "--root", str(root), "--results", str(results)]) == EXIT_OK
    out = tmp_path / "results-report"  # beside the results, never inside them
    assert not (results / "_report").exists()
    for name in ("report.md", "summary.md", "summary.csv", "sequences.csv", "attributes.csv", "speed.csv"):
        assert (out / name).stat().st_size > 0, name
    for stem in ("success_plot", "precision_plot", "norm_precision_plot"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"

    scores = {t.tracker: t for t in score_trackers(results, ["perfect", "shifted"], sequences)}
    summary = {row["Tracker"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert set(summary) == {"perfect", "shifted"}
    for name, row in summary.items():
        assert float(row["AUC"]) == scores[name].overall.auc            # full precision
        assert float(row["P"]) == scores[name].overall.precision
    assert float(summary["perfect"]["FPS"]) == pytest.approx(4.0) and summary["shifted"]["FPS"] == ""
    per_seq = list(csv.DictReader((out / "sequences.csv").open()))
    assert len(per_seq) == 6 and {r["FPS"] for r in per_seq if r["Tracker"] == "perfect"} == {"4.0"}

    attributes = {row["Attribute"]: row for row in csv.DictReader((out / "attributes.csv").open())}
    assert list(attributes) == ["IV", "POC", "FOC"]                              # the toolkit's order
    assert attributes["IV"]["Sequences"] == "2" and attributes["IV"]["Name"] == "Illumination Variation"
    assert float(attributes["IV"]["perfect AUC"]) == pytest.approx(FULL, abs=1e-4)    # cat-1, dog-1
    assert float(attributes["FOC"]["perfect AUC"]) == pytest.approx(FULL * 5 / 6, abs=1e-4)  # cat-2
    printed = capsys.readouterr().out
    assert "| Tracker | AUC | P | NP | OP50 | OP75 | FPS | Sequences | Missing (error) |" in printed
    assert f"| perfect | {scores['perfect'].overall.auc:.2f} |" in printed        # two decimals, as the paper
    assert f"{scores['perfect'].overall.auc:.2f}" == f"{(2 * FULL + FULL * 5 / 6) / 3:.2f}"


@pytest.mark.parametrize("argv, message", [
    ("--dataset lasot --split all --root {tmp}/lasot --results {tmp}/nowhere",
     "nowhere: results folder not found"),
    ("--dataset lasot --split all --root {tmp}/lasot --results {tmp}/results --trackers nope",
     "no results folder for tracker 'nope'"),
    ("--dataset lasot --split all --root {tmp}/empty --results {tmp}/results", "no sequence directories"),
    ("--dataset lasot --root {tmp}/nothing --results {tmp}/results", "LaSOT root directory not found"),
    ("--dataset tnl2k --split test --root {tmp}/lasot --results {tmp}/results", "TNL2K has no split"),
])
def test_score_errors_are_one_line(tmp_path, capsys, argv, message):
    make_lasot(tmp_path / "lasot", images=False)
    write_tracker(tmp_path / "results", "t", {"cat-1": gt_boxes(0)})
    (tmp_path / "empty").mkdir()
    assert main(["score", *argv.format(tmp=tmp_path).split()]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


# --- running ---------------------------------------------------------------------------------------------

class FakeTracker:
    """Tracker stand-in: records prompts, answers fixed boxes instantly."""

    def __init__(self):
        self.prompts = []

    def init(self, frame, prompts):
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
        assert (frame[..., 0] > 180).sum() >= 200 and (frame[..., 2] > 180).sum() == 0  # RGB: the target is red
        self.prompts.append(prompts[0])
        return "state", [SimpleNamespace(box=(1, 2, 3, 4))]

    def step(self, state, frame):
        return state, [SimpleNamespace(box=(1.7, 2.2, 3.9, 4.1))]


def test_runs_resume_redo_half_written_files_and_record_gt_at_frame_0(tmp_path):
    dataset = LaSOT(make_lasot(tmp_path / "lasot", images=True), split="all")
    results, tracker = tmp_path / "results", FakeTracker()
    summary = run_benchmark(tracker, dataset, results, "fake", init="nlbb")
    assert summary.tracked == list(LASOT_SEQS) and summary.frames == 3 * N
    rows = read_result(result_file(results, "fake", "cat-2"))
    np.testing.assert_array_equal(rows[0], gt_boxes(1)[0])
    np.testing.assert_array_equal(rows[1:], [[1, 2, 3, 4]] * (N - 1))       # int-truncated
    assert tracker.prompts[1].box == tuple(gt_boxes(1)[0]) and tracker.prompts[1].text.startswith("the red cat")

    again = run_benchmark(tracker, dataset, results, "fake", init="nlbb")
    assert again.tracked == [] and again.skipped == list(LASOT_SEQS) and len(tracker.prompts) == 3
    half = result_file(results, "fake", "cat-2")
    half.write_text("".join(half.read_text().splitlines(keepends=True)[:3]))   # a crash mid-write
    third = run_benchmark(tracker, dataset, results, "fake", init="nl", frame0="prediction")
    assert third.tracked == ["cat-2"] and tracker.prompts[-1].box is None     # NL: the sentence alone
    np.testing.assert_array_equal(read_result(half)[0], [1, 2, 3, 4])        # frame 0 = the init result


def test_shards_cover_every_sequence_exactly_once(tmp_path):
    names = [f"s-{i}" for i in range(7)]
    parts = [select_sequences(names, (i, 3)) for i in range(3)]
    assert sorted(n for part in parts for n in part) == sorted(names) and sum(map(len, parts)) == 7
    assert select_sequences(names, (1, 2), max_sequences=4) == ["s-1", "s-3"]
    for bad in ("3/3", "a/b", "1"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)

    dataset = LaSOT(make_lasot(tmp_path / "lasot", images=True), split="all")
    tracked = [run_benchmark(FakeTracker(), dataset, tmp_path / "r", "fake", shard=(i, 2)).tracked for i in (0, 1)]
    assert tracked == [["cat-1", "dog-1"], ["cat-2"]]
    assert all(is_complete(tmp_path / "r", "fake", n, N) for n in LASOT_SEQS)


def test_run_end_to_end_with_a_tiny_model_both_inits(tmp_path, tiny_weights, capsys):
    root, results = make_lasot(tmp_path / "synthetic", images=True), tmp_path / "results"
    for init in ("nl", "nlbb"):
        assert main(["run", "--dataset", "synthetic", "--root", str(root), "--weights", str(tiny_weights),
                     "--tracker-name", f"tiny-{init}", "--results", str(results), "--init", init,
                     "--device", "cpu", "--quiet"]) == EXIT_OK
        for k, name in enumerate(LASOT_SEQS):
            lines = result_file(results, f"tiny-{init}", name).read_text().splitlines()
            assert len(lines) == N and all(re.fullmatch(r"-?\d+\t-?\d+\t-?\d+\t-?\d+", line) for line in lines)
            assert lines[0] == "\t".join(str(int(v)) for v in gt_boxes(k)[0])
            assert len(read_times(results / f"tiny-{init}" / f"{name}_time.txt")) == N
        assert (results / f"tiny-{init}" / "_run.json").is_file()
    assert "tracked 3, already done 0, failed 0" in capsys.readouterr().err
    assert main(["run", "--dataset", "synthetic", "--root", str(root), "--weights", str(tiny_weights),
                 "--tracker-name", "tiny-nl", "--results", str(results), "--device", "cpu", "--quiet"]) == EXIT_OK
    assert "tracked 0, already done 3" in capsys.readouterr().err
    assert main(["run", "--dataset", "synthetic", "--root", str(root), "--weights", str(tiny_weights),
                 "--tracker-name", "tiny-nl", "--results", str(results), "--init", "nlbb"]) == EXIT_BAD_INPUT
    assert "tiny-nl holds results made with init nl; give another" in capsys.readouterr().err


# --- grounding and the paper table -----------------------------------------------------------------------

def make_refcocog(root: Path) -> Path:
    """Two val refs (ids 7 and 10, more than the number of refs: the official loop would fail, #30), a crowd
    one and a train one, on two 64x48 images."""
    import json
    import pickle

    refs = [{"ref_id": 7, "ann_id": 100, "split": "val", "sentences": [{"sent": "the left square"},
                                                                     {"sent": "a red square"}]},
            {"ref_id": 8, "ann_id": 101, "split": "train", "sentences": [{"sent": "the dog"}]},
            {"ref_id": 9, "ann_id": 102, "split": "val", "sentences": [{"sent": "the crowd"}]},
            {"ref_id": 10, "ann_id": 103, "split": "val", "sentences": [{"sent": "the blue kite"}]}]
    coco = {"images": [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg"} for i in (1, 2)],
            "annotations": [{"id": 100, "image_id": 1, "bbox": [8, 6, 20, 16], "iscrowd": 0},
                            {"id": 101, "image_id": 1, "bbox": [5, 5, 10, 10], "iscrowd": 0},
                            {"id": 102, "image_id": 2, "bbox": [0, 0, 60, 40], "iscrowd": 1},
                            {"id": 103, "image_id": 2, "bbox": [3, 4, 5, 6], "iscrowd": 0}]}
    (root / "refcocog").mkdir(parents=True)
    with open(root / "refcocog" / "refs(google).p", "wb") as f:
        pickle.dump(refs, f, protocol=2)
    write(root / "refcocog" / "instances.json", json.dumps(coco))
    for i in (1, 2):
        write_frames(root / "images/mscoco/images/train2014", gt_boxes(0)[:1], f"COCO_train2014_{i:012d}.jpg")
    return root


def test_grounding_both_protocols_in_the_normalised_padded_frame(tmp_path, tiny_weights):
    data = RefCOCOg(make_refcocog(tmp_path / "coco"), split="val")
    model = load_model(tiny_weights)
    results, records = evaluate_grounding(model, data)
    assert [(r.ref_id, r.sentence_index) for r in records] == [(7, 0), (7, 1), (10, 0)]
    assert results["one_per_ref"].num_samples == 2 and results["per_expression"].num_samples == 3
    one = {r.ref_id: r.iou for r in records if (r.ref_id, r.sentence_index) in {(7, 1), (10, 0)}}
    assert results["one_per_ref"].mean_iou == pytest.approx(100 * np.mean(list(one.values())))

    # Ref 10 by hand: 64x48 -> 160x120 in the 160 square (scale 2.5); GT 3,4,5,6 -> xyxy / 160.
    from kit.tracking.crops import grounding_resize, normalize
    image = cv2.cvtColor(cv2.imread(str(data[1].image)), cv2.COLOR_BGR2RGB)
    g = grounding_resize(image, 160)
    with torch.inference_mode():
        enc = SentenceEncoder().encode("the blue kite")
        pred = model.ground(model.encode_text(enc.ids, enc.mask),
                            model.encode_image(normalize(g.patch), torch.as_tensor(g.pad_mask)[None]))
    cx, cy, w, h = pred.boxes[0].tolist()
    expected = continuous_iou_xyxy([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]],
                                   [[7.5 / 160, 10 / 160, 20 / 160, 25 / 160]])[0]
    assert one[10] == pytest.approx(np.nan_to_num(expected), abs=1e-6)

    only_last, last_records = evaluate_grounding(model, data, protocols=("one_per_ref",))
    assert [(r.ref_id, r.sentence_index) for r in last_records] == [(7, 1), (10, 0)]
    assert only_last["one_per_ref"].mean_iou == pytest.approx(results["one_per_ref"].mean_iou, abs=1e-4)


def test_ground_and_paper_table_commands(tmp_path, tiny_weights, capsys):
    coco = make_refcocog(tmp_path / "coco")
    assert main(["ground", "--root", str(coco), "--weights", str(tiny_weights), "--device", "cpu", "--quiet",
                 "--out", str(tmp_path / "g")]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "| one_per_ref | 2 |" in printed and "| per_expression | 3 |" in printed
    assert (tmp_path / "g" / "grounding_records.csv").read_text().count("\n") == 4

    tnl2k, results = make_tnl2k(tmp_path / "tnl2k", images=True), tmp_path / "paper"
    assert main(["paper-table", "--weights", str(tiny_weights), "--data-root-tnl2k", str(tnl2k),
                 "--data-root-refcocog", str(coco), "--results", str(results), "--device", "cpu",
                 "--quiet"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert "LaSOT skipped (no --data-root-lasot)" in err and "OTB99-lang skipped" in err
    assert re.search(r"\| TNL2K \| NL \| [\d.]+ / [\d.]+ \| 54\.6 / 55\.0 \|", out)
    assert re.search(r"\| TNL2K \| NL\+BB \| [\d.]+ / [\d.]+ \| 56\.9 / 58\.1 \|", out)
    assert re.search(r"\| RefCOCOg val \| grounding \| [\d.]+ \| 70\.07 \|", out)
    assert (results / "tnl2k" / "jointnlt-nl" / "seqA.txt").is_file()
    assert (results / "tnl2k-report" / "success_plot.png").is_file()
    assert "Command: `python -m kit.evaluate paper-table" in (results / "paper_table.md").read_text()


def test_static_box_baseline_holds_the_first_box(tmp_path, capsys, no_image_reads):
    root, results = make_lasot(tmp_path / "synthetic", images=False), tmp_path / "results"
    assert main(["baseline", "--dataset", "synthetic", "--root", str(root), "--results", str(results)]) == EXIT_OK
    for k, name in enumerate(LASOT_SEQS):
        rows = read_result(result_file(results, "static-box", name))
        assert rows.shape == (N, 4) and (rows == gt_boxes(k)[0].astype(int)).all()
    assert "static-box: 3 result files" in capsys.readouterr().err


def test_centre_box_baseline_puts_a_fixed_box_in_the_middle(tmp_path, capsys):
    root, results = make_lasot(tmp_path / "synthetic", images=True), tmp_path / "results"
    assert main(["baseline", "--kind", "centre", "--size", "20,10", "--dataset", "synthetic", "--root", str(root),
                 "--results", str(results)]) == EXIT_OK
    for k, name in enumerate(LASOT_SEQS):
        rows = read_result(result_file(results, "centre-prior", name))
        assert (rows[0] == gt_boxes(k)[0].astype(int)).all()                  # frame 0: the ground truth
        assert (rows[1:] == [(W - 20) // 2, (H - 10) // 2, 20, 10]).all()     # then the middle of the 64x48 frame
    assert "centre-prior: 3 result files" in capsys.readouterr().err
    assert main(["baseline", "--kind", "centre", "--dataset", "synthetic", "--root", str(root),
                 "--results", str(results)]) == EXIT_BAD_INPUT
    assert "--kind centre needs --size W,H" in capsys.readouterr().err


def test_grounding_on_the_synthetic_grounding_images(tmp_path, tiny_weights, capsys):
    root = make_lasot(tmp_path / "synthetic", images=True)
    grounding = root / "grounding"
    grounding.mkdir()
    for name in LASOT_SEQS:  # 1-frame copies of the sequences, as the generator writes grounding images
        shutil.copytree(root / name.rsplit("-", 1)[0] / name, grounding / name.rsplit("-", 1)[0] / name)
    (grounding / "test.txt").write_text("".join(n + "\n" for n in LASOT_SEQS))
    assert main(["ground", "--dataset", "synthetic", "--root", str(root), "--weights", str(tiny_weights),
                 "--device", "cpu", "--quiet"]) == EXIT_OK
    assert "| one_per_ref | 3 |" in capsys.readouterr().out
    assert main(["ground", "--dataset", "synthetic", "--root", str(root), "--weights", str(tiny_weights),
                 "--device", "cpu", "--quiet", "--wrong-sentences"]) == EXIT_OK     # the language control
    assert "| one_per_ref | 3 |" in capsys.readouterr().out


def test_wrong_sentences_control_gives_each_image_the_next_ones_sentences():
    from kit.data import ReferredObject
    from kit.evaluate import with_next_sentences

    refs = [ReferredObject(i, Path(f"{i}.jpg"), np.array([i, 0, 1, 1.0]), [f"s{i}a", f"s{i}b"], "val") for i in range(3)]
    moved = with_next_sentences(refs)
    assert [r.sentences for r in moved] == [["s1a", "s1b"], ["s2a", "s2b"], ["s0a", "s0b"]]
    assert [(r.ref_id, r.image, r.box[0]) for r in moved] == [(r.ref_id, r.image, r.box[0]) for r in refs]
