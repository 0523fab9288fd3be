"""Tracking a whole video in one call, the way the demo, `kit.track`, the evaluator, the benchmarks and the
notebooks all do it (in the spirit of SAM 2's `propagate_in_video`).

    tracker = load_tracker("assets/jointnlt-lite")                     # device and precision: "auto"
    run = track_video(tracker, "assets/examples/synthetic.mp4", [Prompt(text="the tangerine diamond on top")])
    for frame in run:                                                  # one FrameResult per frame
        print(frame.index, frame.targets[0].box, frame.targets[0].score)
    run.end                                                            # why it ended: "end", "stopped", ...

`track_video` is the only per-frame tracking loop of the repository: `Tracker.init` on the first frame,
`Tracker.step` on every later one. Bad input (no frames, an unusable sentence or box, a first frame that cannot
be decoded) raises before anything is yielded; once frames were tracked, a decoding error or a stop request
ends the run cleanly and the frames tracked so far stay valid.
"""
from __future__ import annotations

import itertools
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kit.tracking.boxfiles import FrameBox
from kit.tracking.tracker import Prompt, TargetResult, Tracker, TrackerConfig, TrackerInputError, TrackState

# --- one tracker -----------------------------------------------------------------------------------------


def load_model_for(weights=None, device="auto", precision: str = "auto", progress=None, accelerate: str = "none"):
    """(model, device, precision): the weights loaded on the resolved device, `auto` precision resolved for
    that device and model (`kit.runtime.auto_precision`), the weights precast once for it, then `accelerate`
    applied (`kit.config.ACCELERATIONS`). `weights` is any reference `load_model` takes (None = the default
    model; "official" = the authors' checkpoint, whose download reports `progress(bytes_done, bytes_total)`)."""
    from kit.runtime import accelerate as apply_acceleration
    from kit.runtime import auto_precision, check_precision, precast_weights, resolve_device
    from kit.weights.refs import OFFICIAL_REF
    from kit.weights.loading import load_model

    device = resolve_device(device)
    if weights is not None and str(weights).strip() == OFFICIAL_REF and progress is not None:
        from kit.weights.official import fetch_official

        weights = fetch_official(progress=progress)
    model = load_model(weights, device=device)
    if precision == "auto":
        precision = auto_precision(device.type, model.config.name)
    check_precision(precision)
    return apply_acceleration(precast_weights(model, precision), accelerate, precision), device, precision


def load_tracker(weights=None, device="auto", precision: str = "auto", *, accelerate: str = "none",
                 sentence_encoder=None, **options) -> Tracker:
    """A ready `Tracker`: weights loaded, device and precision resolved and `accelerate` applied
    (`load_model_for`), and `options` the fields of `TrackerConfig` (e.g. `attention=True`,
    `absent_below=0.2`); an unknown option is an error."""
    model, device, precision = load_model_for(weights, device, precision, accelerate=accelerate)
    return Tracker(model, TrackerConfig(**options), device=device, precision=precision,
                   sentence_encoder=sentence_encoder)


# --- one video -------------------------------------------------------------------------------------------

@dataclass
class FrameResult:
    """One frame of a tracked video: the frame as tracked and one `TargetResult` per target (its box,
    score, present flag, search region and, with `TrackerConfig.attention`, attention maps). It holds the
    frame and the tracker's state: over a long video keep what you need (`targets`, `box_row()`), not the
    FrameResults themselves."""

    index: int
    frame: np.ndarray                  # RGB uint8 (H, W, 3), the size that was tracked
    targets: list[TargetResult]
    state: TrackState | None           # the tracker's state after this frame (None: grounding only)
    seconds: float                     # time spent in the tracker on this frame (the first: initialisation)
    scale: float = 1.0                 # tracked size / the video's original size (a down-scaled video)
    warnings: list[str] = field(default_factory=list)   # e.g. a sentence cut to the text encoder's length

    def box_row(self, target: int = 0) -> FrameBox:
        """The row of a box file for one target, in the original video's pixels (no box when absent)."""
        result = self.targets[target]
        box = tuple(float(v) / self.scale for v in result.box) if result.present else None
        return FrameBox(self.index, box, float(result.score), result.present)


# Why a run ended (`VideoRun.end`).
END, MAX_FRAMES, STOPPED, ERROR = "end", "max_frames", "stopped", "error"


class VideoRun:
    """Iterate for one `FrameResult` per frame. Afterwards `end` says why the run ended: "end" (the last
    frame), "max_frames" (the video has more frames than were asked for), "stopped" (`should_stop`), or
    "error" (the video failed part-way, or a frame could not be tracked; `error` is the exception);
    `frames` counts the frames yielded."""

    def __init__(self, tracker: Tracker, frames: Iterator[tuple[int, np.ndarray]], prompts: list[Prompt],
                 scale: float, max_frames: int | None, should_stop: Callable[[], bool] | None):
        self.end: str | None = None
        self.error: Exception | None = None
        self.frames = 0
        self._results = self._run(tracker, frames, list(prompts), scale, max_frames, should_stop)

    def __iter__(self) -> Iterator[FrameResult]:
        return self

    def __next__(self) -> FrameResult:
        result = next(self._results)
        self.frames += 1
        return result

    def _run(self, tracker, frames, prompts, scale, max_frames, should_stop) -> Iterator[FrameResult]:
        from kit.tracking.video import VideoError

        index, frame = next(frames)
        (state, results), seconds, caught = _timed(tracker.init, frame, prompts)
        yield FrameResult(index, frame, results, state, seconds, scale, caught)
        try:
            for index, frame in frames:
                if max_frames is not None and index >= max_frames:  # a frame past the limit: the video is longer
                    self.end = MAX_FRAMES
                    return
                if should_stop is not None and should_stop():
                    self.end = STOPPED
                    return
                (state, results), seconds, caught = _timed(tracker.step, state, frame)
                yield FrameResult(index, frame, results, state, seconds, scale, caught)
        except (VideoError, TrackerInputError) as err:
            self.end, self.error = ERROR, err
            return
        self.end = END


def _timed(call, *args):
    """call(*args), the seconds it took, and the messages of the warnings it gave (data for the caller to
    show, e.g. a sentence cut to the text encoder's length)."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args)
    return result, time.perf_counter() - start, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _frames(video) -> tuple[Iterator[tuple[int, np.ndarray]], float]:
    """(index, RGB frame) pairs of `video` and its scale (see `track_video`); the first pair is read here, so
    a video without frames, or whose first frame cannot be decoded, raises now."""
    from kit.tracking.video import VideoError, VideoSource, open_video

    if isinstance(video, (str, os.PathLike)):
        video = open_video(video)
    if isinstance(video, VideoSource):
        frames, scale, name = iter(video), video.scale, video.path
    else:
        frames, scale, name = enumerate(_rgb(f) for f in video), 1.0, "the video"
    try:
        first = next(frames)
    except StopIteration:
        raise VideoError(name, "has no frames") from None
    return itertools.chain([first], frames), scale


def track_video(tracker: Tracker, video, prompts: list[Prompt], *, max_frames: int | None = None,
                should_stop: Callable[[], bool] | None = None) -> VideoRun:
    """Track `prompts` (one per target) through `video`: a `VideoRun` that yields one `FrameResult` per frame,
    tracking each frame when it is asked for.

    `video`: a path (opened with `open_video`), a `VideoSource` (e.g. down-scaled with `max_side`: boxes
    are then tracked at that size and `FrameResult.box_row` gives them in the original pixels), or any
    iterable of RGB uint8 frames or of image file paths (e.g. a benchmark sequence's `frames`). At most
    `max_frames` frames are tracked; `should_stop()` is asked before each frame after the first.
    Raises `VideoError` (no frames, an unreadable first frame) here, and `TrackerInputError` (an unusable
    sentence or box) at the first `next`: in both cases nothing was tracked.
    """
    frames, scale = _frames(video)
    return VideoRun(tracker, frames, prompts, scale, max_frames, should_stop)


def ground_first_frame(tracker: Tracker, video, prompt: Prompt) -> FrameResult:
    """Grounding only: where is the sentence's target in the video's first frame? (`video` as in
    `track_video`.)"""
    frames, scale = _frames(video)
    index, frame = next(frames)
    result, seconds, caught = _timed(tracker.ground, frame, prompt)
    return FrameResult(index, frame, [result], None, seconds, scale, caught)


def _rgb(frame) -> np.ndarray:
    """A frame given as an array, or as an image file read the way the official tracker reads it."""
    if isinstance(frame, (str, os.PathLike)):
        from kit.tracking.video import read_image

        return read_image(Path(frame))
    return frame


def track_boxes(tracker: Tracker, video, prompt: Prompt, **kwargs) -> np.ndarray:
    """(N, 4) x,y,w,h of one target through a whole video (`track_video`, frame 0 included); a video that
    fails part-way raises its error."""
    run = track_video(tracker, video, [prompt], **kwargs)
    boxes = np.array([r.targets[0].box for r in run], dtype=np.float64)
    if run.end == ERROR:
        raise run.error
    return boxes
