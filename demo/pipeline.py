"""The demo's work without Gradio: check what the user gave, ground or track the video, write the outputs of
one run into its own folder. `demo.app` only turns these results into page updates.

The frames are tracked by `kit.tracking.session.track_video` (as `kit.track` does), with the demo's caps
(`DemoConfig`) applied: frames are down-scaled so that neither side exceeds `max_side`, and at most
`max_frames` frames are tracked. Boxes in the files and in the box field are in the original video's pixels;
the annotated video is at the size that was tracked.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from demo.config import DemoConfig
from kit.tracking.boxfiles import write_box_files
from kit.tracking.drawing import PALETTE, draw_results, overlay_attention
from kit.tracking.session import ERROR, MAX_FRAMES, STOPPED, FrameResult, ground_first_frame, track_video
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig, TrackerInputError, check_box
from kit.tracking.video import VideoError, VideoSource, VideoWriter, open_video

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"

# Mode id -> label shown in the page.
TRACK_NL, TRACK_NLBB, GROUND = "track-nl", "track-nlbb", "ground"
MODES = {TRACK_NL: "Track: sentence only (NL)",
         TRACK_NLBB: "Track: sentence + box on the first frame (NL+BB)",
         GROUND: "Ground the sentence on the first frame only"}


class DemoInputError(Exception):
    """Something the user gave that cannot be used; the message is one line, meant for the page."""


# --- inputs ----------------------------------------------------------------------------------------------

def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """'x,y,w,h' (commas and/or spaces) -> four floats; empty -> None."""
    if text is None or not str(text).strip():
        return None
    parts = [p for p in re.split(r"[,\s]+", str(text).strip().strip("()[]")) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise DemoInputError(f"the box is four numbers x,y,w,h (left, top, width, height in pixels); got {text!r}")
    return values


def format_box(box) -> str:
    return ",".join(f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}" for v in box)


def box_from_clicks(first: tuple[float, float], second: tuple[float, float]) -> tuple[float, ...]:
    """Two opposite corners (any order) -> x,y,w,h covering both clicked pixels."""
    (x0, y0), (x1, y1) = first, second
    left, top = min(x0, x1), min(y0, y1)
    width, height = abs(x1 - x0) + 1, abs(y1 - y0) + 1
    if width < 2 or height < 2:
        raise DemoInputError("the two clicks are the box's opposite corners: click at a different x and y")
    return (left, top, width, height)


def check_input_path(path: str | Path | None, allowed_roots: list[Path]) -> Path:
    """The uploaded file, refused unless it lies in one of `allowed_roots` (Gradio's upload folder, the
    bundled examples): nothing else on the server is ever read."""
    if path is None or not str(path).strip():
        raise DemoInputError("no video: upload one, or pick an example below")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(Path(root).resolve()) for root in allowed_roots):
        raise DemoInputError(f"{resolved.name} was not uploaded through this page; upload the video again")
    return resolved


def open_checked(path: Path, config: DemoConfig) -> VideoSource:
    """`open_video` with the demo's down-scaling; its errors become one-line messages naming only the file
    (not the server's temporary folder)."""
    try:
        return open_video(path, max_side=config.max_side)
    except VideoError as err:
        raise DemoInputError(_video_message(err)) from None


def _video_message(err: VideoError) -> str:
    return f"{Path(err.path).name} {err.problem}"


def scale_note(video: VideoSource, config: DemoConfig) -> list[str]:
    """What the size cap does to this video (nothing, or one note)."""
    w, h = video.original_size
    if video.scale == 1:
        return []
    note = (f"Down-scaled from {w}×{h} to {video.width}×{video.height} (the demo's limit is {config.max_side} px "
            f"a side); boxes are given in the original {w}×{h} pixels.")
    return [note]


def length_note(config: DemoConfig, num_frames: int | None) -> str:
    """What the length cap does, for a video of `num_frames` (None: known only to be longer)."""
    length = f"The video has {num_frames} frames; t" if num_frames else "T"
    return (f"{length}he demo tracks the first {config.max_frames}. For the whole video use "
            "`python -m kit.track`.")


def describe_video(video: VideoSource) -> str:
    w, h = video.original_size
    frames = f"{video.num_frames} frames" if video.num_frames else "unknown length"
    return f"{video.path.name}: {w}×{h}, {frames}, {video.fps:.3g} frames/s"


# A first frame smaller than this (long side) is shown enlarged, by a whole factor, so that a box can be drawn
# on it with two clicks (the page would show a 176x144 frame at its native size).
SHOW_AT_LEAST = 480


@dataclass
class Preview:
    frame: np.ndarray   # the first frame as shown: the tracked size x zoom
    scale: float        # tracked size / original size
    summary: str
    notes: list[str]
    zoom: int = 1       # shown size / tracked size (nearest-neighbour enlargement of small videos)


def preview(path: Path, config: DemoConfig) -> Preview:
    video = open_checked(path, config)
    try:
        _, frame = next(iter(video))
    except StopIteration:
        raise DemoInputError(f"{path.name} has no frames") from None
    except VideoError as err:
        raise DemoInputError(_video_message(err)) from None
    notes = scale_note(video, config)
    if video.num_frames and video.num_frames > config.max_frames:
        notes.append(length_note(config, video.num_frames))
    zoom = max(1, math.ceil(SHOW_AT_LEAST / max(frame.shape[:2])))
    if zoom > 1:
        frame = cv2.resize(frame, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    return Preview(frame, video.scale, describe_video(video), notes, zoom)


def click_point(index, scale: float, zoom: int = 1) -> tuple[float, float]:
    """A click on the shown first frame (pixel `index` of an image `zoom` x the tracked size) -> the clicked
    point in the original video's pixels. On an enlarged frame a click means the video pixel under it."""
    return tuple((v // zoom if zoom > 1 else v) / scale for v in index[:2])


def draw_box(frame: np.ndarray, box=None, point: tuple[float, float] | None = None) -> np.ndarray:
    """The preview: a box (x,y,w,h in frame pixels) and/or the first click of a box being drawn."""
    out = frame.copy()
    size = min(frame.shape[:2])
    if box is not None:
        x, y, w, h = box
        cv2.rectangle(out, (round(x), round(y)), (round(x + w - 1), round(y + h - 1)), PALETTE[0],
                      max(2, round(size / 240)))
    if point is not None:
        cv2.circle(out, (round(point[0]), round(point[1])), max(3, size // 80), PALETTE[0], -1)
    return out


@dataclass
class RunRequest:
    video: Path
    text: str
    box: tuple[float, float, float, float] | None  # x,y,w,h in the original video's pixels
    mode: str = TRACK_NL
    attention: bool = False
    category_prior: bool = False      # sentence-only starts: ImageNet category prior first (not the paper's)


def make_prompt(request: RunRequest, video: VideoSource) -> tuple[Prompt, list[str]]:
    """The tracker's prompt, at the tracked size, and notes for what was ignored. Mirrors `kit.track`: a
    sentence is needed unless a box is given."""
    if request.mode not in MODES:
        raise DemoInputError(f"unknown mode {request.mode!r}; choose one of: {', '.join(MODES.values())}")
    text = (request.text or "").strip()
    uses_box = request.mode == TRACK_NLBB
    if not text and not uses_box:
        hint = " (or choose NL+BB to start from the box alone)" if request.box is not None else ""
        raise DemoInputError(f"the sentence is empty: describe the target in words, e.g. 'the red car on the "
                             f"left'{hint}")
    if uses_box and request.box is None:
        raise DemoInputError("NL+BB needs a box on the first frame: click two opposite corners on the first "
                             "frame, or type x,y,w,h")
    notes = []
    if request.box is not None and not uses_box:
        notes.append(f"The box was not used: the mode is “{MODES[request.mode]}”.")
    if not uses_box:
        return Prompt(text=text), notes
    w, h = video.original_size
    try:
        check_box(request.box, h, w)
    except TrackerInputError as err:
        raise DemoInputError(str(err)) from None
    return Prompt(text=text or None, box=_scaled_box(request.box, video)), notes


def _scaled_box(box, video: VideoSource) -> tuple[float, float, float, float]:
    """A box in original pixels -> tracked pixels, kept inside the frame (rounding the frame size down by
    less than a pixel must not push an edge box out)."""
    x, y, w, h = (v * video.scale for v in box)
    x2, y2 = min(x + w, video.width), min(y + h, video.height)
    return (x, y, x2 - x, y2 - y)


# --- the model -------------------------------------------------------------------------------------------

class ModelStore:
    """Loads models once each (first use, or `load()` at start-up) and hands out trackers. Several models
    may be offered (`demo.models`); each is loaded at most once, under its own lock, so loading one never
    waits for another. Thread-safe: runs in the queue's worker threads share the models."""

    def __init__(self, config: DemoConfig):
        from kit.runtime import resolve_device

        self.config = config
        self.device = resolve_device(config.device)
        self._models: dict[str, object] = {}
        self._errors: dict[str, BaseException] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def weights(self) -> str:
        """The model given at start-up: --weights, else $JOINTNLT_WEIGHTS, else the bundled Lite."""
        from kit.weights.loading import default_weights

        return self.config.weights or default_weights()

    @property
    def loaded(self) -> bool:
        return self.is_loaded()

    def is_loaded(self, ref: str | None = None) -> bool:
        return (ref or self.weights) in self._models

    def precision(self, ref: str | None = None) -> str:
        """The configured precision; `auto` depends on the device and, once loaded, on the model's size."""
        from kit.runtime import auto_precision

        if self.config.precision != "auto":
            return self.config.precision
        model = self._models.get(ref or self.weights)
        return auto_precision(self.device.type, getattr(getattr(model, "config", None), "name", ""))

    def load(self, ref: str | None = None, progress: Callable[[int, int | None], None] | None = None):
        """The model of `ref` (default: the start-up one). A failed load raises the same error again on every
        call (no retry storm). `progress(bytes_done, bytes_total)` follows a download of the official model."""
        from kit.tracking.session import load_model_for

        ref = ref or self.weights
        with self._guard:
            lock = self._locks.setdefault(ref, threading.Lock())
        with lock:
            if ref not in self._models and ref not in self._errors:
                try:
                    self._models[ref], _, _ = load_model_for(ref, self.device, self.config.precision, progress,
                                                             accelerate=self.config.accelerate)
                except Exception as err:  # CheckpointError, or a broken file: shown on the page on every run
                    self._errors[ref] = err
            if ref in self._errors:
                raise self._errors[ref]
            return self._models[ref]

    def tracker(self, attention: bool = False, ref: str | None = None, category_prior: bool = False) -> Tracker:
        return Tracker(self.load(ref), TrackerConfig(attention=attention, category_prior=category_prior),
                       device=self.device, precision=self.precision(ref))

    def describe(self, ref: str | None = None) -> str:
        """One line for the page: which weights, on which device, in which precision, and its state."""
        from kit.weights.loading import BUNDLED_MODEL

        weights = ref or self.weights
        name = ("JointNLT-Lite (bundled, `assets/jointnlt-lite`)" if Path(weights).resolve() == BUNDLED_MODEL
                else "JointNLT, the paper's model (the authors' checkpoint)" if weights == "official"
                else f"`{weights}`")
        error = self._errors.get(weights)
        state = ("" if weights in self._models else
                 f" — **could not be loaded:** {first_line(error)}" if error is not None else
                 " (not loaded yet)")
        return (f"**Model:** {name}{state} · **device:** {self.device.type.upper()} · "
                f"**precision:** {self.precision(weights)}")


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


# --- one run ---------------------------------------------------------------------------------------------

@dataclass
class FirstFrame:
    """The first frame's result, shown as soon as it is known."""
    image: np.ndarray                      # annotated first frame, tracked size
    box: tuple[float, float, float, float]  # original pixels
    score: float


@dataclass
class Progress:
    done: int                 # frames tracked so far, the first included
    total: int | None         # frames that will be tracked, when known
    seconds: float

    @property
    def fps(self) -> float:
        return self.done / max(self.seconds, 1e-9)

    @property
    def eta_s(self) -> float | None:
        return None if not self.total else max(self.total - self.done, 0) / max(self.fps, 1e-9)


@dataclass
class RunResult:
    frames: int                                   # frames with a result (= rows of every box file)
    video: Path | None                            # the annotated H.264 video (None: grounding only)
    files: list[Path]                             # box files: .txt, .csv, .json
    scores: list[tuple[int, float]]               # (frame, confidence)
    notes: list[str] = field(default_factory=list)
    stopped: bool = False                         # stopped before the end (user, decoding error)
    seconds: float = 0.0
    last_frame_s: float = 0.0                     # time of the last tracked frame in the video (its poster)


def run(tracker: Tracker, request: RunRequest, config: DemoConfig, out_dir: Path,
        should_stop: Callable[[], bool] = lambda: False) -> Iterator[FirstFrame | Progress | RunResult]:
    """Ground or track `request` into `out_dir`: yields the FirstFrame, then a Progress per frame (tracking),
    then the RunResult. Bad input raises DemoInputError before anything is written. `should_stop` is asked
    before each frame; stopping keeps the results so far."""
    video = open_checked(request.video, config)
    prompt, notes = make_prompt(request, video)
    started = time.perf_counter()
    if request.mode == GROUND:
        frames, first = None, _checked(lambda: ground_first_frame(tracker, video, prompt))
    else:
        frames = _checked(lambda: track_video(tracker, video, [prompt], max_frames=config.max_frames,
                                              should_stop=should_stop))
        first = _checked(lambda: next(frames))
    notes += first.warnings + _start_notes(request, first.targets[0].found_by)
    result = first.targets[0]
    yield FirstFrame(draw_results(first.frame, [(result.box, _label(request), result.score)]),
                     first.box_row().box, result.score)
    if frames is None:
        files = write_box_files([first.box_row()], _boxes_stem(out_dir, request), _meta(request, video))
        yield RunResult(1, None, files, [(0, result.score)], notes + scale_note(video, config),
                        seconds=time.perf_counter() - started)
        return
    yield from _track(frames, first, video, request, config, out_dir, notes, started)


def _checked(start: Callable):
    """start(), its VideoError or TrackerInputError (nothing was tracked) turned into a message for the page."""
    try:
        return start()
    except VideoError as err:
        raise DemoInputError(_video_message(err)) from None
    except TrackerInputError as err:
        raise DemoInputError(str(err)) from None


def _start_notes(request: RunRequest, found_by: str) -> list[str]:
    if found_by.startswith("category prior"):
        return [f"The first box comes from the ImageNet {found_by} (class activation map of the ImageNet "
                f"classifier), not from JointNLT's grounding; JointNLT tracks from it."]
    if request.category_prior and found_by == "grounding":
        return ["The sentence names no ImageNet category, so the first box is JointNLT's own grounding."]
    return []


def _track(frames, first: FrameResult, video, request, config, out_dir, notes, started
           ) -> Iterator[Progress | RunResult]:
    """Draws each tracked frame into the annotated video; the video and box files are closed and written
    whatever ends the run."""
    notes = notes + scale_note(video, config)
    rows, total = [], min(video.num_frames or config.max_frames, config.max_frames)
    path = out_dir / f"{_safe_stem(request.video)}_tracked.mp4"
    with VideoWriter(path, video.fps, video.width, video.height) as writer:
        try:
            for result in itertools.chain([first], frames):
                rows.append(result.box_row())
                writer.write(_drawn(result, request))
                yield Progress(len(rows), total, time.perf_counter() - started)
        finally:
            files = write_box_files(rows, _boxes_stem(out_dir, request), _meta(request, video))
    notes += _end_notes(frames, video, config, len(rows))
    seconds = time.perf_counter() - started
    notes.append(f"Tracked {len(rows)} frames in {seconds:.1f} s ({len(rows) / max(seconds, 1e-9):.1f} frames/s).")
    yield RunResult(len(rows), path, files, [(r.frame, r.score) for r in rows], notes, frames.end in (STOPPED, ERROR),
                    seconds, last_frame_s=(len(rows) - 1) / video.fps if video.fps else 0.0)


def _drawn(result: FrameResult, request: RunRequest) -> np.ndarray:
    target, frame = result.targets[0], result.frame
    if request.attention and "target" in target.attention:
        frame = overlay_attention(frame, target.attention["target"], target.search_box)
    return draw_results(frame, [(target.box, _label(request), target.score)])


def _end_notes(frames, video: VideoSource, config: DemoConfig, done: int) -> list[str]:
    if frames.end == MAX_FRAMES:
        return [length_note(config, video.num_frames)]
    if frames.end == STOPPED:
        return [f"Stopped at your request after {done} frames; their boxes are kept."]
    if frames.end == ERROR:
        err = frames.error
        message = _video_message(err) if isinstance(err, VideoError) else str(err)
        return [f"Stopped: {message}; kept the boxes of the {done} frames tracked before it."]
    return []


def _label(request: RunRequest) -> str:
    """What is written above the boxes in the frames."""
    return (request.text or "").strip() or "(box only)"


def _safe_stem(path: Path) -> str:
    """The upload's name, reduced to characters safe in a download name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem).strip("_")[:40] or "video"


def _boxes_stem(out_dir: Path, request: RunRequest) -> Path:
    """`<video>_boxes`: the box files are `<video>_boxes.txt/.csv/.json`."""
    return out_dir / f"{_safe_stem(request.video)}_boxes"


def _meta(request: RunRequest, video: VideoSource) -> dict:
    """What the JSON box file says about the run."""
    w, h = video.original_size
    return {"video": request.video.name, "text": request.text, "mode": request.mode, "fps": video.fps,
            "width": w, "height": h, "tracked_size": [video.width, video.height]}


# --- run folders -----------------------------------------------------------------------------------------

def new_run_dir(root: Path, keep_s: float) -> Path:
    """A fresh folder for one run's outputs under `root`; folders of runs older than `keep_s` are deleted, so
    the server's disk use stays bounded without a cleaner thread."""
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if old.is_dir() and now - old.stat().st_mtime > keep_s:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another run removed it first
            continue
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))


def load_examples(examples_dir: Path = EXAMPLES_DIR) -> list[dict]:
    """The bundled examples (`examples.json`: file, title, text, box), those whose video is present."""
    index = examples_dir / "examples.json"
    if not index.is_file():
        return []
    return [e for e in json.loads(index.read_text(encoding="utf-8")) if (examples_dir / e["file"]).is_file()]
