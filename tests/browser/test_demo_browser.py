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
    # The player opens on the last tracked frame (99 at 25 frames/s), not on frame 0's given box
    position = page.evaluate("() => document.querySelector('#video-out video').currentTime")
    assert position == pytest.approx(99 / 25, abs=0.1)
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
    page.wait_for_timeout(1500)  # the player's own "Video not playable" toast would be up by now
    page.screenshot(path=artifacts / "04-bad-upload.png", full_page=True)
    assert page.locator('[data-testid="toast-body"]:visible').count() == 0  # one message: the status line

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

    image.scroll_into_view_if_needed()  # mouse clicks land only inside the viewport
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


def test_real_video_example_tracked_to_the_end(page, artifacts, tmp_path, run_timeout_ms):
    """The bundled real clip from its example (sentence + box) to the last frame; with
    JOINTNLT_BROWSER_WEIGHTS=bundled its `08-real-tracked.png` is the README's screenshot."""
    page.get_by_role("button", name="Big Buck Bunny (CC BY 3.0, Blender Foundation) · NL+BB").click()
    page.locator("#first-frame img").wait_for()
    _wait_status(page, "bunny.mp4: 640×360, 132 frames")
    page.click("#run")
    page.wait_for_function(VIDEO_PLAYABLE, timeout=run_timeout_ms)
    _wait_status(page, "Done: 132 frames", timeout_ms=run_timeout_ms)
    page.locator("#scores canvas, #scores svg").first.wait_for()
    page.locator("#video-out").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "08-real-tracked.png", full_page=True)
    rows = _download_rows(page, "bunny_boxes.txt", tmp_path)
    assert len(rows) == open_video(BUNNY).num_frames


# --- issue 16: what a newcomer trips over ------------------------------------------------------------------

def _shown_image(page, selector: str):
    """The picture an <img> shows, decoded (RGB), fetched through the page's own session."""
    import cv2
    import numpy as np

    src = page.locator(f"{selector} img").get_attribute("src")
    body = page.request.get(src).body()
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def test_a_target_at_the_top_of_the_frame_stays_unobscured(page, artifacts, run_timeout_ms):
    """The sentence used to be drawn on a band across the top of every frame, over a target there."""
    import numpy as np

    _upload(page, SYNTHETIC)
    page.locator("#first-frame img").wait_for()
    page.locator("#sentence textarea").fill(SENTENCE + ", a sentence long enough to fill a band across the frame")
    page.locator("#box textarea").fill("100,0,80,40")
    page.get_by_label("Track: sentence + box on the first frame (NL+BB)").check()
    page.click("#run")
    _wait_status(page, "Done: 100 frames", timeout_ms=run_timeout_ms)
    page.screenshot(path=artifacts / "08-label-outside-the-box.png", full_page=True)
    shown = _shown_image(page, "#grounding").astype(int)
    first = next(iter(open_video(SYNTHETIC)))[1].astype(int)
    assert shown.shape == first.shape
    inside = np.abs(shown[4:36, 104:176] - first[4:36, 104:176]).mean()
    assert inside < 6, f"the target's pixels changed by {inside:.1f} on average: something is drawn over it"
    below = np.abs(shown[42:60, 100:180] - first[42:60, 100:180]).mean()
    assert below > 30  # the tag went below the box


def test_a_warning_clears_when_the_input_is_fixed(page, artifacts):
    _upload(page, SYNTHETIC)
    page.locator("#first-frame img").wait_for()
    page.click("#run")
    _wait_status(page, "the sentence is empty")
    page.locator("#sentence textarea").press_sequentially("the red")
    page.wait_for_function("() => document.querySelector('#status').innerText.trim() === ''", timeout=10_000)
    page.locator("#box textarea").fill("1,2,3")
    page.locator("#box textarea").blur()
    _wait_status(page, "the box is four numbers")
    page.locator("#box textarea").fill("1,2,30,40")
    page.locator("#box textarea").blur()
    page.wait_for_function("() => document.querySelector('#status').innerText.trim() === ''", timeout=10_000)
    page.screenshot(path=artifacts / "09-warning-cleared.png", full_page=True)


def test_a_very_long_sentence_gives_a_short_message(page, run_timeout_ms):
    _upload(page, SYNTHETIC)
    page.locator("#first-frame img").wait_for()
    page.locator("#sentence textarea").fill(" ".join(["the big grey rabbit"] * 290))  # 1,160 tokens
    page.get_by_label("Ground the sentence on the first frame only").check()
    page.click("#run")
    _wait_status(page, "Done: grounded", timeout_ms=run_timeout_ms)
    status = _status(page)
    assert "has 1160 WordPiece tokens" in status and "dropped the last 1122" in status
    assert len(status) < 800, status


def test_a_small_video_is_shown_enlarged_and_the_box_is_in_its_pixels(page, artifacts, tmp_path):
    import numpy as np

    from kit.tracking.video import VideoWriter

    path = tmp_path / "qcif.mp4"
    with VideoWriter(path, 10, 176, 144) as writer:
        for _ in range(5):
            frame = np.full((144, 176, 3), 90, np.uint8)
            frame[40:80, 60:100] = (220, 40, 40)
            writer.write(frame)
    _upload(page, path)
    image = page.locator("#first-frame img")
    image.wait_for()
    _wait_status(page, "qcif.mp4: 176×144")
    page.wait_for_function("() => document.querySelector('#first-frame img').naturalWidth > 0")
    natural = page.evaluate("() => document.querySelector('#first-frame img').naturalWidth")
    assert natural == 528  # 3 x 176: drawn on at a usable size
    image.scroll_into_view_if_needed()  # mouse clicks land only inside the viewport
    frame_box = image.bounding_box()
    assert frame_box["height"] > 200  # shown large on the page, not at 144 px
    shown = min(frame_box["width"] / 176, frame_box["height"] / 144)
    left = frame_box["x"] + (frame_box["width"] - 176 * shown) / 2
    top = frame_box["y"] + (frame_box["height"] - 144 * shown) / 2
    before = image.get_attribute("src")
    page.mouse.click(left + 60.5 * shown, top + 40.5 * shown)
    _wait_status(page, "Corner marked")
    page.wait_for_function(IMAGE_REPLACED, arg=before)
    page.mouse.click(left + 99.5 * shown, top + 79.5 * shown)
    _wait_status(page, "the mode is now NL+BB")
    page.screenshot(path=artifacts / "10-small-video-box.png", full_page=True)
    x, y, w, h = (float(v) for v in page.locator("#box textarea").input_value().split(","))
    assert (x, y) == (60, 40) and abs(w - 40) <= 1 and abs(h - 40) <= 1  # the video's pixels


def test_no_label_badge_covers_the_pictures(page):
    _upload(page, SYNTHETIC)
    page.locator("#first-frame img").wait_for()
    page.locator("#sentence textarea").fill(SENTENCE)
    page.get_by_label("Ground the sentence on the first frame only").check()
    page.click("#run")
    _wait_status(page, "Done: grounded")
    for component, media in (("#first-frame", "img"), ("#grounding", "img")):
        picture = page.locator(f"{component} {media}").bounding_box()
        for label in page.locator(f'{component} [data-testid="block-label"]').all():
            box = label.bounding_box()
            if not label.is_visible() or box is None or box["width"] * box["height"] <= 1:
                continue
            overlap_x = min(box["x"] + box["width"], picture["x"] + picture["width"]) - max(box["x"], picture["x"])
            overlap_y = min(box["y"] + box["height"], picture["y"] + picture["height"]) - max(box["y"], picture["y"])
            assert overlap_x <= 0 or overlap_y <= 0, f"a label badge covers {component}"


def test_a_degenerate_video_with_attention_maps_leaves_the_server_serving(page, tmp_path, run_timeout_ms):
    """A search crop of padding only used to give NaN with attention maps, then a segfault in roi_align
    that took the server down for everyone."""
    import numpy as np

    from kit.tracking.video import VideoWriter

    path = tmp_path / "speck.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(path, 10, 16, 16) as writer:
        for _ in range(6):
            writer.write(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    _upload(page, path)
    page.locator("#first-frame img").wait_for()
    page.locator("#sentence textarea").fill("the speck")
    page.locator("#attention input").check()
    page.click("#run")
    _wait_status(page, "Done: 6 frames", timeout_ms=run_timeout_ms)
    page.locator('#video-in button[aria-label="Clear"]').first.click()
    _upload(page, SYNTHETIC)  # the next request is served
    page.locator("#first-frame img").wait_for()
    page.locator("#sentence textarea").fill(SENTENCE)
    page.click("#run")
    _wait_status(page, "Done: 100 frames", timeout_ms=run_timeout_ms)


# --- issue 14: a real video, from a box and from the sentence alone ------------------------------------------

def test_the_real_example_is_tracked_from_its_box_and_from_the_category_prior(page, artifacts, tmp_path,
                                                                               run_timeout_ms):
    page.get_by_role("button", name="Big Buck Bunny (CC BY 3.0, Blender Foundation) · NL+BB").click()
    _wait_status(page, "bunny.mp4: 640×360, 132 frames")
    page.click("#run")
    page.wait_for_function(VIDEO_PLAYABLE, timeout=run_timeout_ms)
    _wait_status(page, "Done: 132 frames", timeout_ms=run_timeout_ms)
    page.screenshot(path=artifacts / "08-real-video-tracked.png", full_page=True)
    assert len(_download_rows(page, "bunny_boxes.txt", tmp_path)) == 132

    # sentence only, with the ImageNet category prior: the page says where the first box came from
    page.get_by_role("button", name="Big Buck Bunny (CC BY 3.0, Blender Foundation) · NL", exact=True).click()
    page.locator("#box textarea").filter(has_text="").wait_for()
    page.locator("#category-prior input").check()
    page.click("#run")
    _wait_status(page, "Done: 132 frames", timeout_ms=run_timeout_ms)
    status = _status(page)
    assert "ImageNet category prior: wood rabbit" in status and "not from JointNLT's grounding" in status
    page.screenshot(path=artifacts / "09-real-video-category-prior.png", full_page=True)
