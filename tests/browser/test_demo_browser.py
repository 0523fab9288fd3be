"""The demo page in a real browser (headless Chromium): a bundled video tracked end to end with the output
video playable and the boxes file downloaded; an example picked, its box redrawn by two clicks and the run
stopped part-way; bad input shown as a message while the page keeps working. Screenshots of each state
go to the artifacts folder (see conftest.py)."""
from pathlib import Path

import pytest

from kit.tracking.video import open_video

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "assets" / "examples"
SYNTHETIC = EXAMPLES / "synthetic.mp4"
BUNNY = EXAMPLES / "bunny.mp4"
SENTENCE = "the tangerine diamond on top"

VIDEO_PLAYABLE = """() => {
    const v = document.querySelector('#video-out video');
    return v !== null && v.readyState >= 3 && v.duration > 0;   // HAVE_FUTURE_DATA: it can play
}"""


IMAGE_REPLACED = """(before) => {
    const img = document.querySelector('#first-frame img');
    return img !== null && img.src !== before && img.complete && img.naturalWidth > 0;
}"""


def _status(page) -> str:
    return page.locator("#status").inner_text()


def _wait_status(page, text: str, timeout_ms: int = 60_000) -> None:
    page.locator("#status").filter(has_text=text).wait_for(timeout=timeout_ms)


def _upload(page, path: Path) -> None:
    page.locator("#video-in input[type=file]").set_input_files(str(path))


def _download_rows(page, name: str, tmp_path: Path) -> list[str]:
    with page.expect_download() as download:
        page.locator(f'#downloads a[download="{name}"]').click()
    saved = tmp_path / name
    download.value.save_as(saved)
    return saved.read_text().splitlines()


def test_bundled_video_is_tracked_and_its_boxes_downloaded(page, artifacts, tmp_path, run_timeout_ms):
    page.screenshot(path=artifacts / "01-start.png", full_page=True)
    _upload(page, SYNTHETIC)
    page.locator("#first-frame img").wait_for()
    assert "100 frames" in _status(page)
    page.locator("#sentence textarea").fill(SENTENCE)
    page.screenshot(path=artifacts / "02-video-loaded.png", full_page=True)

    page.click("#run")
    page.wait_for_function(VIDEO_PLAYABLE, timeout=run_timeout_ms)
    _wait_status(page, "Done: 100 frames")
    assert page.locator("#grounding img").is_visible()  # the first frame's result
    # The model line, drawn before the model was loaded, is refreshed by the run.
    page.locator("#model-info").filter(has_text="Model:").filter(has_not_text="not loaded").wait_for(timeout=5_000)
    page.locator("#scores canvas, #scores svg").first.wait_for()
    page.screenshot(path=artifacts / "03-tracked.png", full_page=True)

    rows = _download_rows(page, "synthetic_boxes.txt", tmp_path)
    assert len(rows) == open_video(SYNTHETIC).num_frames == 100
    assert all(len(row.split(",")) == 4 for row in rows)


def test_bad_input_shows_a_message_and_the_page_keeps_working(page, artifacts, tmp_path):
    broken = tmp_path / "holiday.mp4"
    broken.write_bytes(b"this is not a video, only text with a video's name\n" * 20)
    _upload(page, broken)
    _wait_status(page, "holiday.mp4 is not a readable video")
    page.screenshot(path=artifacts / "04-bad-upload.png", full_page=True)

    page.locator('#video-in button[aria-label="Clear"]').first.click()
    _upload(page, SYNTHETIC)  # the same session goes on: a good video, but no sentence
    page.locator("#first-frame img").wait_for()
    page.click("#run")
    _wait_status(page, "the sentence is empty")
    page.screenshot(path=artifacts / "05-empty-sentence.png", full_page=True)
    assert "Traceback" not in page.content()


def test_example_picked_box_redrawn_by_two_clicks_then_stopped_part_way(page, artifacts, tmp_path, run_timeout_ms):
    page.get_by_role("button", name="Big Buck Bunny (CC BY 3.0, Blender Foundation) · NL+BB").click()
    image = page.locator("#first-frame img")
    image.wait_for()
    _wait_status(page, "bunny.mp4: 640×360, 132 frames")
    assert page.locator("#box textarea").input_value() == "116,122,147,160"
    assert page.locator("#sentence textarea").input_value() == "the big grey rabbit coming out of its burrow"

    frame_box = image.bounding_box()
    width, height = open_video(BUNNY).original_size
    # The image is shown scaled (aspect kept) inside its box: click at 20 % and 60 % of the picture.
    shown = min(frame_box["width"] / width, frame_box["height"] / height)
    left = frame_box["x"] + (frame_box["width"] - width * shown) / 2
    top = frame_box["y"] + (frame_box["height"] - height * shown) / 2
    before = image.get_attribute("src")
    page.mouse.click(left + 0.2 * width * shown, top + 0.3 * height * shown)
    _wait_status(page, "Corner marked")
    page.wait_for_function(IMAGE_REPLACED, arg=before)  # a click on an image being swapped would be lost
    page.mouse.click(left + 0.6 * width * shown, top + 0.8 * height * shown)
    _wait_status(page, "the mode is now NL+BB")
    x, y, w, h = (float(v) for v in page.locator("#box textarea").input_value().split(","))
    assert abs(x - 0.2 * width) < 0.03 * width and abs(y - 0.3 * height) < 0.03 * height
    assert abs(w - 0.4 * width) < 0.03 * width and abs(h - 0.5 * height) < 0.03 * height
    assert page.get_by_label("Track: sentence + box on the first frame (NL+BB)").is_checked()

    page.click("#run")
    _wait_status(page, "s left", timeout_ms=run_timeout_ms)  # a progress line: the run is under way
    page.screenshot(path=artifacts / "06-running.png", full_page=True)
    page.click("#stop")
    _wait_status(page, "Stopped at your request", timeout_ms=run_timeout_ms)
    page.wait_for_function(VIDEO_PLAYABLE)
    page.screenshot(path=artifacts / "07-stopped.png", full_page=True)

    frames = int(_status(page).split("Stopped: ")[1].split(" frame")[0])
    assert 1 <= frames < open_video(BUNNY).num_frames
    assert len(_download_rows(page, "bunny_boxes.txt", tmp_path)) == frames
