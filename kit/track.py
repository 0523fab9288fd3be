"""Track the target a sentence describes through a video, from the command line.

    python -m kit.track VIDEO --text "the zebra on the left" [--box x,y,w,h] [--weights CKPT]
                        [--out out.mp4] [--boxes out.txt] [--device cpu|cuda] [--precision fp32|bf16]
                        [--threads N|adaptive]

`--text` and `--box` may be repeated to follow several targets (the i-th box goes with the i-th sentence).
`--boxes` may be repeated; the format follows the extension: .txt (LaSOT-style x,y,w,h), .csv, .json (any
other extension is an error).
Exit status: 0 done; 2 bad input (nothing tracked); 1 the run stopped part-way (the boxes of the frames
tracked so far are written). Every error is one line on stderr.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from kit.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_STOPPED, THREADS_HELP, report_unexpected
from kit.config import PRECISIONS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kit.track", description=__doc__.split("\n\n")[0])
    p.add_argument("video", type=Path)
    p.add_argument("--text", action="append", default=[], help="the sentence describing a target (repeatable)")
    p.add_argument("--box", action="append", default=[], type=_parse_box,
                   help="x,y,w,h of the target on the first frame (repeatable, paired with --text)")
    p.add_argument("--weights", help="official .pth.tar, a folder/.safetensors of ours, or hf://owner/repo "
                   "(default: $JOINTNLT_WEIGHTS, else the bundled JointNLT-Lite in assets/jointnlt-lite)")
    p.add_argument("--out", type=Path, help="annotated video (H.264 .mp4)")
    p.add_argument("--boxes", action="append", default=[], type=Path, help="box file: .txt, .csv or .json")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--precision", default="fp32", choices=["auto", *PRECISIONS],
                   help="int8: CPU, int8 vision encoder (the fast paper-model mode without bf16 hardware); auto: bf16 "
                        "on CUDA and for the paper model on a CPU with bf16 hardware, else fp32")
    p.add_argument("--accelerate", default="none",
                   help="none (default) or compile: torch.compile the vision encoder (fp32/bf16/fp16; boxes within "
                        "1e-4 of eager; the first frame compiles for minutes on a small CPU; docs/speed.md)")
    p.add_argument("--threads", help=THREADS_HELP)
    p.add_argument("--reground-below", type=float, help="re-ground when the score stays below this")
    p.add_argument("--absent-below", type=float, help="report the target absent below this score")
    p.add_argument("--category-prior", action="store_true",
                   help="sentence only: take the first box from the ImageNet category prior when the sentence "
                        "names an ImageNet category (real videos with the bundled Lite; not the paper's grounding)")
    p.add_argument("--motion-prior", type=float, help="Gaussian prior on the corner maps around the previous "
                   "box, sigma = this x the target size (e.g. 0.5; docs/tracking.md)")
    p.add_argument("--max-scale-change", type=float, help="bound the per-frame change of w and h (e.g. 0.1)")
    p.add_argument("--appearance-check", action="store_true", default=None,
                   help="keep, of the model's box, the previous size at its centre and the previous box, the one "
                        "that looks most like the template (docs/tracking.md)")
    p.add_argument("--paper-tracker", action="store_true",
                   help="the paper's tracker: ignore the tracker settings the model recommends (the bundled Lite's "
                        "real-footage checks); options given here still apply")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _parse_box(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a box is x,y,w,h (four numbers); got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"a box is x,y,w,h (four numbers); got {text!r}")
    return values


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:
        return report_unexpected(err)


class InputError(Exception):
    """Bad input found before any frame was tracked."""


def run(args) -> int:
    from kit.tracking.boxfiles import BOX_FORMATS
    from kit.tracking.session import track_video
    from kit.tracking.tracker import Prompt, TrackerInputError
    from kit.tracking.video import VideoError, open_video
    from kit.weights.checkpoint import CheckpointError

    prompts = _prompts(args, BOX_FORMATS)
    try:
        video = open_video(args.video)
        tracker = _tracker(args)
        frames = track_video(tracker, video, [Prompt(text=t, box=b) for t, b in prompts],
                             max_frames=args.max_frames)
        first = next(frames)
    except (VideoError, CheckpointError, TrackerInputError, ValueError, TypeError, FileNotFoundError) as err:
        raise InputError(str(err)) from None
    for message in first.warnings:
        print(f"warning: {message}", file=sys.stderr)
    return _track(args, video, first, frames, [t for t, _ in prompts])


def _prompts(args, formats) -> list[tuple[str | None, tuple | None]]:
    for path in args.boxes:
        if path.suffix.lower() not in formats:
            raise InputError(f"--boxes {path}: unknown box file type {path.suffix or '(none)'!r}; use one of "
                             f"{', '.join(formats)}")
    if len(args.box) > max(len(args.text), 1):
        raise InputError(f"{len(args.box)} boxes but {len(args.text)} sentences: give one --text per --box")
    texts = args.text or [None]
    boxes = args.box + [None] * (len(texts) - len(args.box))
    for text, box in zip(texts, boxes):
        if box is None and (text is None or not text.strip()):
            raise InputError("the sentence is empty: describe the target in words, e.g. --text 'the red car on "
                             "the left' (or give --box)")
    return list(zip(texts, boxes))


def _tracker(args):
    from kit.runtime import configure_threads
    from kit.tracking.session import load_tracker

    configure_threads(args.threads)
    return load_tracker(args.weights, args.device, args.precision, accelerate=args.accelerate,
                        reground_below=args.reground_below,
                        absent_below=args.absent_below, category_prior=args.category_prior,
                        motion_prior=args.motion_prior, max_scale_change=args.max_scale_change,
                        appearance_check=args.appearance_check, model_settings=not args.paper_tracker)


def _track(args, video, first, frames, texts) -> int:
    """Draws and counts the frames of `frames` (a `VideoRun`); box files are written at the end whatever
    happens, so partial results are kept."""
    from tqdm import tqdm

    from kit.tracking.session import ERROR

    for k, r in enumerate(first.targets):
        if r.found_by.startswith("category prior") and not args.quiet:
            print(f"target {k}: first box from the ImageNet {r.found_by} (not JointNLT's grounding)", file=sys.stderr)
    rows = [[] for _ in texts]   # per target, one FrameBox per frame
    writer = _writer(args, video)
    total = min(filter(None, [video.num_frames, args.max_frames]), default=None)
    bar = tqdm(total=total, unit="frame", disable=args.quiet, desc="tracking")
    status, started = EXIT_OK, time.perf_counter()
    try:
        for result in itertools.chain([first], frames):
            for k, target_rows in enumerate(rows):
                target_rows.append(result.box_row(k))
            if writer is not None:
                writer.write(_drawn(result, texts))
            bar.update(1)
        if frames.end == ERROR:
            print(f"error: {frames.error}; kept the boxes of the {len(rows[0])} frames tracked", file=sys.stderr)
            status = EXIT_STOPPED
    except KeyboardInterrupt:
        print(f"error: interrupted; kept the boxes of the {len(rows[0])} frames tracked", file=sys.stderr)
        status = EXIT_STOPPED
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        _write_box_files(args, video, texts, rows)
    seconds = time.perf_counter() - started
    if not args.quiet:
        print(f"{len(rows[0])} frames in {seconds:.1f} s ({len(rows[0]) / max(seconds, 1e-9):.1f} frames/s)",
              file=sys.stderr)
    return status


def _writer(args, video):
    from kit.tracking.video import VideoWriter

    return VideoWriter(args.out, video.fps, video.width, video.height) if args.out else None


def _drawn(result, texts):
    from kit.tracking.drawing import draw_results

    return draw_results(result.frame, [(r.box if r.present else None, t or "", r.score)
                                       for r, t in zip(result.targets, texts)])


def _write_box_files(args, video, texts, rows):
    from kit.tracking.boxfiles import write_box_files

    for path in args.boxes:
        for k, target_rows in enumerate(rows):
            out = path if len(rows) == 1 else path.with_name(f"{path.stem}_{k}{path.suffix}")
            meta = dict(video=str(args.video), text=texts[k], fps=video.fps, width=video.width, height=video.height)
            write_box_files(target_rows, out, meta)


if __name__ == "__main__":
    sys.exit(main())
