"""Reading videos frame by frame with bounded memory, and writing browser-playable H.264.

Reading: `open_video` streams RGB frames one at a time with PyAV, so memory does not grow with the video's
length. decord is available on request (`backend="decord"`, fast random access) but is not the default:
measured with decord 0.6.0, its reader keeps every decoded frame of a slowly consumed video (a 2-minute
720p video grew the tracker to 10.5 GB), while PyAV stays flat (~90 MB). Both use ffmpeg and both turn
phone videos upright from their rotation metadata. Every problem is a `VideoError` whose message is one
line naming the file. Writing: `VideoWriter` (H.264, yuv420p, faststart MP4). Drawing results is
`kit.tracking.drawing`; box files are `kit.tracking.boxfiles`.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

DEFAULT_FPS = 30.0  # when a video does not say its frame rate
WRITABLE_SUFFIXES = (".mp4", ".m4v", ".mov")
H264_ENCODERS = ("libx264", "libopenh264", "h264")  # first one this PyAV build can encode with


class VideoError(Exception):
    """A video that cannot be opened, read or written. `str()` is one line: the path, then the problem.

    `frame` is the index at which decoding stopped when a video fails part-way (frames before it were
    yielded, so results computed on them can be kept), else None.
    """

    def __init__(self, path, problem: str, frame: int | None = None):
        self.path, self.problem, self.frame = str(path), " ".join(problem.split()), frame
        super().__init__(f"{self.path} {self.problem}")


# --- reading ---------------------------------------------------------------------------------------------

def _decord():
    """decord, with its bundled ffmpeg silenced (its messages repeat the errors we raise), or None when it is
    not installed (it has no wheels for ARM machines)."""
    try:
        import decord
    except ImportError:
        return None
    decord.logging.set_level(decord.logging.QUIET)  # decord's own ffmpeg copy only, not PyAV's
    return decord


def _reason(exc: BaseException) -> str:
    """An exception's first line without the source locations and assertion text of decord's messages
    ('[12:00:00] /path/file.cc:123: Check failed: ... (-1 vs. 0) ') or PyAV's '[Errno 123] ' and
    ": 'file or function name'"."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    reason = re.sub(r"^(\[[\d:]+\] \S+:\d+: )+|^\[Errno -?\d+\] ", "", lines[0])
    reason = re.sub(r"^Check failed: .*? \(-?\d+ vs\. -?\d+\) ", "", reason)
    return re.sub(r": '[^']*'$", "", reason).strip() or type(exc).__name__


def _decord_rgb(nd) -> np.ndarray:
    """A decord frame as a contiguous (H, W, 3) uint8 array.

    decord 0.6.0 returns (H, W, 4) for some widths (24, 48, 72: found by sweeping even widths 18-398):
    the array is the padded rows of the RGB image (4W bytes, the first 3W of which are the pixels).
    """
    arr = nd.asnumpy() if hasattr(nd, "asnumpy") else np.asarray(nd)  # any decord bridge
    h, w, c = arr.shape
    if c != 3:
        arr = arr.reshape(h, w * c)[:, : w * 3].reshape(h, w, 3)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _pyav_frames(path: Path) -> Iterator[np.ndarray]:
    """Decode with PyAV, turned upright like decord does (rotation metadata, counter-clockwise degrees).

    A truncated file ends in a packet flagged corrupt (cut short): decoding stops there, the decoder's
    delayed frames are still yielded, then it raises. (Decoding errors would be swallowed by frame
    threading, so packets are checked here rather than left to the decoder.)
    """
    import av

    def upright(frame) -> np.ndarray:
        rgb = frame.to_ndarray(format="rgb24")
        quarter_turns = round(frame.rotation / 90) % 4
        return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        failure = None
        try:
            for packet in container.demux(stream):
                if packet.is_corrupt:
                    failure = "a packet is cut short"
                    break
                for frame in packet.decode():  # the last, empty packet flushes the decoder
                    yield upright(frame)
        except av.FFmpegError as exc:
            failure = _reason(exc)
        if failure:
            for frame in stream.decode(None):
                yield upright(frame)
            raise EOFError(failure)


def _probe(path: Path) -> tuple[float | None, int | None]:
    """Check that `path` holds a video, with PyAV (headers only). Returns (fps, frame count), None if unknown."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(path, f"is not a readable video ({_reason(exc)}); is it a complete video file?")
    with container:
        fmt = container.format.name
        if fmt.endswith("_pipe") or fmt == "image2":  # ffmpeg's still-image demuxers: png_pipe, jpeg_pipe...
            raise VideoError(path, f"is an image ({fmt.removesuffix('_pipe').upper()}), not a video")
        if not container.streams.video:
            others = sorted({s.type for s in container.streams})
            raise VideoError(path, "has no video stream" + (f" (only {', '.join(others)})" if others else ""))
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and math.isfinite(float(rate)) and float(rate) > 0 else None
        frames = stream.frames or None
        if frames is None and container.duration and fps:  # duration in AV_TIME_BASE (microseconds)
            frames = round(container.duration / 1e6 * fps)
    return fps, frames


class VideoSource:
    """A video opened by `open_video`. Iterate it for `(index, frame)`: frame is RGB uint8 (H, W, 3),
    contiguous, one at a time; iterating again starts from the first frame.

    `width`, `height` are the size of the yielded frames, after the optional `max_side` downscale;
    `scale` = yielded / original size, so a box found on these frames is `box / scale` in the original.
    `num_frames` is the count the container reports (exact for decord; an estimate, or None, for some
    files read by PyAV). `backend` is "decord" or "pyav".

    Decoding that fails part-way raises `VideoError` with `.frame` = the first frame that could not be
    read, after yielding every frame before it (with corrupt rather than missing data, the last of them
    may show the decoder's concealment of the damage). A decoder that reaches the end early (a truncated
    MKV or AVI: the demuxer sees fewer frames) just stops.
    """

    def __init__(self, path: Path, backend: str, fps: float, num_frames: int | None,
                 original_size: tuple[int, int], max_side: int | None):
        self.path, self.backend, self.fps, self.num_frames = path, backend, fps, num_frames
        self.original_size = original_size  # (width, height) as decoded, upright
        w, h = original_size
        self.scale = min(1.0, max_side / max(w, h)) if max_side else 1.0
        self.width, self.height = max(1, round(w * self.scale)), max(1, round(h * self.scale))

    def __repr__(self) -> str:
        return (f"VideoSource({str(self.path)!r}, {self.width}x{self.height}, fps={self.fps:g}, "
                f"num_frames={self.num_frames}, scale={self.scale:g}, backend={self.backend!r})")

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        if self.scale == 1.0:
            return frame
        return cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)

    def _raw_frames(self) -> Iterator[np.ndarray]:
        if self.backend == "pyav":
            yield from _pyav_frames(self.path)
            return
        reader = _decord().VideoReader(str(self.path))
        try:
            for _ in range(len(reader)):
                yield _decord_rgb(reader.next())
        except StopIteration:
            return
        finally:
            del reader

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        index, frames = 0, self._raw_frames()
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except Exception as exc:  # decoders raise DECORDError, av errors, ...
                total = f" of {self.num_frames}" if self.num_frames else ""
                raise VideoError(self.path, f"stopped decoding at frame {index}{total} ({_reason(exc)}): "
                                 "the file is truncated or corrupt", frame=index) from exc
            yield index, self._resize(frame)
            index += 1

    def read(self, index: int) -> np.ndarray:
        """One frame (random access with decord; PyAV decodes up to it)."""
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        if self.backend == "decord" and index < self.num_frames:
            reader = _decord().VideoReader(str(self.path))
            try:
                return self._resize(_decord_rgb(reader[index]))
            except Exception as exc:  # DECORDError and others
                raise VideoError(self.path, f"cannot read frame {index} ({_reason(exc)})", frame=index) from exc
        elif self.backend == "pyav":
            for i, frame in self:
                if i == index:
                    return frame
        raise VideoError(self.path, f"has no frame {index} (it has {self.num_frames} frames)")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(path, "does not exist")
    if path.is_dir():
        raise VideoError(path, "is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "is empty (0 bytes)")


def open_video(path: str | os.PathLike, max_side: int | None = None, backend: str | None = None) -> VideoSource:
    """Open a video for streaming; `max_side` downscales frames (aspect kept, cv2.INTER_AREA) so that
    neither side exceeds it. Raises `VideoError` for a missing, empty, image, non-video or frameless file.

    `backend`: None or "pyav" = PyAV (bounded memory); "decord" = decord, falling back to PyAV where decord
    is missing or cannot read the file.
    """
    path = Path(path)
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    if backend not in (None, "pyav", "decord"):
        raise ValueError(f"backend must be None or 'pyav' (PyAV), or 'decord', got {backend!r}")
    _check_file(path)
    fps, frames = _probe(path)  # PyAV: gives the clear messages (image, no video stream, not a video)
    decord = _decord() if backend == "decord" else None
    if decord is not None:
        try:
            reader = decord.VideoReader(str(path))
            first, count, rate = _decord_rgb(reader.next()), len(reader), reader.get_avg_fps()
            del reader
            h, w = first.shape[:2]
            fps = rate if math.isfinite(rate) and rate > 0 else fps
            return VideoSource(path, "decord", fps or DEFAULT_FPS, count, (w, h), max_side)
        except Exception:  # decord refuses some files PyAV reads: PyAV decides below
            pass
    try:
        first = next(_pyav_frames(path))
    except StopIteration:
        raise VideoError(path, "has a video stream but no frames") from None
    except Exception as exc:  # av errors and others
        raise VideoError(path, f"cannot be decoded ({_reason(exc)})") from exc
    h, w = first.shape[:2]
    return VideoSource(path, "pyav", fps or DEFAULT_FPS, frames, (w, h), max_side)


def read_frame(path: str | os.PathLike, index: int = 0, max_side: int | None = None,
               backend: str | None = None) -> np.ndarray:
    """One RGB frame of a video (e.g. the first, for a preview), checked like `open_video`."""
    return open_video(path, max_side, backend).read(index)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file (a benchmark's frame) as the official tracker reads it: cv2.imread, BGR -> RGB, uint8
    (H, W, 3). Raises `VideoError` when the file is missing or not an image."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(path, "is not a readable image (missing, or not an image file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# --- writing ---------------------------------------------------------------------------------------------

def _h264_encoder(path: Path) -> str:
    import av

    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # UnknownCodecError or ValueError, by PyAV version
            continue
    raise VideoError(path, f"cannot be written: this PyAV build has no H.264 encoder (tried "
                     f"{', '.join(H264_ENCODERS)})")


class VideoWriter:
    """Write RGB uint8 frames to a browser-playable MP4: H.264, yuv420p, `+faststart` (index first, so a
    browser plays while loading). `threads` = encoder threads. Use as a context manager; leaving the block, even by an exception, closes
    the file so that what was written plays.

    yuv420p needs even sizes: an odd width or height is padded by one pixel, repeating the last column/row,
    so box coordinates are unchanged (`encoded_size` is what the file holds).
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int,
                 crf: int = 23, preset: str = "veryfast", threads: int = 1):
        import av

        self.path = Path(path)
        if self.path.suffix.lower() not in WRITABLE_SUFFIXES:
            raise VideoError(self.path, f"cannot be written: use a {'/'.join(WRITABLE_SUFFIXES)} file name "
                             "(H.264 in MP4 is what browsers play)")
        if not (fps > 0 and math.isfinite(fps)) or width < 1 or height < 1:
            raise ValueError(f"need fps > 0 and a positive size, got fps={fps}, size={width}x{height}")
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.encoded_size = (self.width + self.width % 2, self.height + self.height % 2)
        self.frames_written = 0
        codec = _h264_encoder(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._container = av.open(str(self.path), "w", options={"movflags": "+faststart"})
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(self.path, f"cannot be written ({_reason(exc)})") from exc
        self._rate = Fraction(self.fps).limit_denominator(1001)  # 29.97 -> 2997/100, 30000/1001 stays
        self._stream = self._container.add_stream(codec, rate=self._rate)
        self._stream.width, self._stream.height = self.encoded_size
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": preset}
        # One encoder thread by default: the model needs the cores, and x264's own threads (1.5 per core)
        # fighting torch's busy-waiting threads made tracking 0.38 -> 2.5 s/frame at 720p on 2 cores.
        self._stream.codec_context.thread_count = threads

    def write(self, frame_rgb: np.ndarray) -> None:
        import av

        if self._container is None:
            raise ValueError(f"{self.path}: the writer is closed")
        frame_rgb = np.asarray(frame_rgb)
        if frame_rgb.shape != (self.height, self.width, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(f"{self.path}: expected an RGB uint8 frame of shape {(self.height, self.width, 3)}, "
                             f"got {frame_rgb.dtype} {frame_rgb.shape}")
        pad_w, pad_h = self.encoded_size[0] - self.width, self.encoded_size[1] - self.height
        if pad_w or pad_h:
            frame_rgb = np.pad(frame_rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self._rate
        self._container.mux(self._stream.encode(frame))
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))  # flush the encoder's delayed frames
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
