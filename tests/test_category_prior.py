"""The ImageNet category prior for sentence-only starts on real footage (not the paper's grounding)."""
import numpy as np
import pytest

from kit.tracking.category_prior import CategoryPrior, box_from_map
from video_files import bunny_first_frame

BUNNY_LABEL = np.array([116, 122, 147, 160], float)     # assets/examples/bunny_labels.txt, frame 0


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x2 - x1, 0) * max(y2 - y1, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.fixture(scope="module")
def prior():
    return CategoryPrior.from_packages()


def test_box_from_map_takes_the_peak_region_above_half_the_peak():
    cam = np.zeros((50, 80), np.float32)
    cam[10:20, 30:45] = 0.9
    cam[30:40, 5:15] = 0.4           # below half the peak: never in the box
    cam[15, 40] = 2.0
    box, share = box_from_map(cam)
    assert box == (40.0, 15.0, 1.0, 1.0)     # half of 2.0 keeps only the peak pixel
    cam[10:20, 30:45] = 1.0          # now the whole region holds the peak
    box, share = box_from_map(cam)
    assert box == (30.0, 10.0, 15.0, 10.0)
    assert share == pytest.approx(150 / (150 + 0.4 * 100))


def test_a_sentence_naming_a_category_finds_the_rabbit_in_the_bunny_clip(prior):
    frame = bunny_first_frame()
    found = prior.find(frame, "the big grey rabbit")
    assert found is not None
    assert {"wood rabbit", "hare", "Angora"} & set(found.classes)
    assert iou(found.box, BUNNY_LABEL) >= 0.4


def test_sentences_that_name_no_category_get_none(prior):
    frame = bunny_first_frame()
    for sentence in ("the one on the left", "the thing that moves first"):
        assert prior.categories(sentence)[0] == []
        assert prior.find(frame, sentence) is None
