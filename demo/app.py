"""The Gradio page served by `python app.py`: upload a video (or pick an example), describe the target,
optionally draw a box on the first frame, then ground or track. The work is in `demo.pipeline`; this module
only lays out the page and turns pipeline results and errors into page updates."""
from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from demo import models, pipeline
from demo.config import DemoConfig, config_from_env
from demo.pipeline import MODES, TRACK_NL, TRACK_NLBB, DemoInputError
from kit.cli import THREADS_HELP
from kit.runtime import configure_threads

TITLE = "JointNLT — describe a target, find it, follow it"
INTRO = f"""# {TITLE}
Upload a video (or pick an example), describe the target in one sentence, and run: the model grounds the
sentence on the first frame, then tracks that target through the video. Give a box on the first frame
(click two opposite corners, or type `x,y,w,h`) to start from it instead (NL+BB)."""
# How often a run refreshes its progress bar and its status line: each refresh is a message to the page, and
# on a GPU frames come faster than a page wants them.
PROGRESS_BAR_S, STATUS_LINE_S = 0.2, 1.0
WARNING = "⚠️"  # how every message about bad input starts
# One message per problem, in the status line. Gradio's video player adds a "Video not playable" toast for an
# upload the browser cannot play, beside our status line that says what is wrong (or that the server reads it
# fine: the browser plays fewer formats than the server decodes). Run on page load.
HIDE_PLAYER_TOAST = """() => {
    new MutationObserver(() => {
        for (const toast of document.querySelectorAll('[data-testid="toast-body"]'))
            if (toast.innerText.includes('Video not playable')) toast.style.display = 'none';
    }).observe(document.body, {childList: true, subtree: true});
}"""


class StopRequests:
    """Which browser sessions pressed Stop since their last Run. The Stop button is answered outside the
    queue, at once, while the run it stops checks here before each frame and ends with what it has."""

    def __init__(self):
        self._sessions: set[str] = set()
        self._lock = threading.Lock()

    def clear(self, session: str) -> None:
        with self._lock:
            self._sessions.discard(session)

    def request(self, session: str) -> None:
        with self._lock:
            self._sessions.add(session)

    def requested(self, session: str) -> bool:
        with self._lock:
            return session in self._sessions


def error_message(err: BaseException) -> str:
    """What the page says about a failure: the message of the errors we expect; for anything else the type
    and message (the traceback goes to the server log), and the page keeps working."""
    from kit.weights.checkpoint import CheckpointError

    if isinstance(err, (DemoInputError, CheckpointError)):
        return f"{WARNING} **{err}**"
    traceback.print_exception(err, file=sys.stderr)
    return (f"{WARNING} **Unexpected error ({type(err).__name__}): {pipeline.first_line(err)}.** The details are in "
            "the server log; the page still works.")


def clear_warning(status: str | None):
    """An input changed: a warning about the old input goes; any other status line stays."""
    return "" if (status or "").startswith(WARNING) else gr.update()


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_text(p: pipeline.Progress) -> str:
    total = f" / {p.total}" if p.total else ""
    return f"Tracked {p.done}{total} frames · {p.fps:.1f} frames/s · about {format_seconds(p.eta_s)} left"


def notes_text(notes: list[str]) -> str:
    return "\n".join(f"- {n}" for n in notes)


def score_table(scores: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"frame": [f for f, _ in scores], "score": [s for _, s in scores]})


class Handlers:
    """The page's event handlers, sharing the model, the caps and the Stop requests of one app."""

    def __init__(self, config: DemoConfig, store: pipeline.ModelStore, runs_dir: Path):
        self.config, self.store, self.runs_dir = config, store, runs_dir
        self.stops = StopRequests()
        # Uploads (and examples, which Gradio copies there) come from Gradio's upload folder; nothing else
        # on the server is read.
        self.allowed_roots = [Path(get_upload_folder()), pipeline.EXAMPLES_DIR]

    # --- the first frame and the box ---------------------------------------------------------------------
    def show_first_frame(self, video_path, box_text):
        """New video: its first frame for drawing a box, and what the caps will do to it."""
        if not video_path:
            return None, None, None, ""
        try:
            path = pipeline.check_input_path(video_path, self.allowed_roots)
            first = pipeline.preview(path, self.config)
            frame = {"image": first.frame, "scale": first.scale, "zoom": first.zoom}
            return self._drawn(frame, box_text), frame, None, "\n\n".join([first.summary, notes_text(first.notes)])
        except Exception as err:  # every failure becomes a message on the page
            return None, None, None, error_message(err)

    def _drawn(self, frame, box_text, point=None):
        """The first frame with the box of `box_text` (original pixels) and a pending click drawn on it."""
        try:
            box = pipeline.parse_box(box_text)
        except DemoInputError:
            box = None
        scale = frame["scale"] * frame.get("zoom", 1)  # original pixels -> shown pixels
        scaled = None if box is None else tuple(v * scale for v in box)
        return pipeline.draw_box(frame["image"], scaled, point=None if point is None else
                                 (point[0] * scale, point[1] * scale))

    def click(self, frame, pending, box_text, mode, evt: gr.SelectData):
        """A click on the first frame: the first one marks a corner, the second makes the box (NL+BB)."""
        if frame is None:
            return gr.update(), None, box_text, mode, "⚠️ **Upload a video first.**"
        point = pipeline.click_point(evt.index, frame["scale"], frame.get("zoom", 1))  # original pixels
        if pending is None:
            return (self._drawn(frame, None, point=point), point, box_text, mode,
                    "Corner marked: click the opposite corner.")
        try:
            box = pipeline.box_from_clicks(tuple(pending), point)
        except DemoInputError as err:
            return self._drawn(frame, None), None, box_text, mode, error_message(err)
        text = pipeline.format_box(box)
        return self._drawn(frame, text), None, text, TRACK_NLBB, f"Box {text} set; the mode is now NL+BB."

    def edit_box(self, frame, box_text, status):
        """A typed box: drawn on the first frame; the status line says what is wrong, or loses an old
        warning once the box is fine."""
        try:
            pipeline.parse_box(box_text)
            message = clear_warning(status)
        except DemoInputError as err:
            message = error_message(err)
        return (gr.update() if frame is None else self._drawn(frame, box_text)), message

    def clear_box(self, frame, mode):
        image = None if frame is None else self._drawn(frame, None)
        return image, None, "", TRACK_NL if mode == TRACK_NLBB else mode

    # --- running -----------------------------------------------------------------------------------------
    def start(self, request: gr.Request):
        self.stops.clear(request.session_hash)

    def stop(self, request: gr.Request):
        self.stops.request(request.session_hash)
        return "Stopping after the current frame…"

    def run(self, video_path, text, box_text, mode, attention, category, request: gr.Request, model_ref=None,
            progress=gr.Progress()):
        """Ground or track; yields (status, first-frame result, video, score plot, box files)."""
        session = request.session_hash if request is not None else ""
        yield "Starting…", None, None, None, None
        try:
            run_request = pipeline.RunRequest(pipeline.check_input_path(video_path, self.allowed_roots),
                                              text or "", pipeline.parse_box(box_text), mode, bool(attention),
                                              bool(category))
            if not self.store.is_loaded(model_ref):
                yield "Loading the model (first run only)…", None, None, None, None
            tracker = self.store.tracker(attention=run_request.attention, ref=model_ref,
                                         category_prior=run_request.category_prior)
            out_dir = pipeline.new_run_dir(self.runs_dir, self.config.keep_runs_s)
            events = pipeline.run(tracker, run_request, self.config, out_dir,
                                  should_stop=lambda: self.stops.requested(session))
            yield from self._events(events, progress, tracking=run_request.mode != pipeline.GROUND)
        except Exception as err:  # every failure becomes a message on the page; the server goes on
            yield error_message(err), gr.update(), gr.update(), gr.update(), gr.update()

    # --- the model -----------------------------------------------------------------------------------------
    def model_list(self):
        """The models this machine offers (re-read on every page load: a download may have finished)."""
        choices, notes = models.model_choices(self.store.weights)
        return (gr.update(choices=[(c.label, c.ref) for c in choices], value=self.store.weights),
                notes_text(notes))

    def load_model(self, ref, progress=gr.Progress()):
        """Load the model picked in the list, with a progress bar while the official one downloads. Runs
        outside the queue's model slots, so other users' runs go on meanwhile."""
        ref = ref or self.store.weights
        if not self.store.is_loaded(ref):
            last = [0.0]

            def downloaded(done, total):
                if time.monotonic() - last[0] >= PROGRESS_BAR_S:
                    last[0] = time.monotonic()
                    progress((done, total), desc="Downloading the paper's model", unit="bytes")

            progress(None, desc="Loading the model…")
            try:
                self.store.load(ref, progress=downloaded)
            except Exception:  # the model line says why; every run says it again
                pass
        return self.store.describe(ref)

    def _events(self, events, progress, tracking: bool):
        image, last_bar, last_status = None, 0.0, 0.0
        for event in events:
            if isinstance(event, pipeline.FirstFrame):
                image = event.image
                yield (f"First frame: box {pipeline.format_box(event.box)}, score {event.score:.2f}."
                       + (" Tracking…" if tracking else ""), image, None, None, None)
            elif isinstance(event, pipeline.Progress):
                now = time.monotonic()
                if now - last_bar >= PROGRESS_BAR_S:
                    last_bar = now
                    progress((event.done, event.total), desc=progress_text(event), unit="frames")
                if now - last_status >= STATUS_LINE_S:
                    last_status = now
                    yield progress_text(event), image, None, None, None
            else:
                yield self._finished(event, image)

    def _finished(self, result: pipeline.RunResult, image):
        head = ("Stopped" if result.stopped else "Done") + f": {result.frames} frame" + "s" * (result.frames != 1)
        if result.video is None:
            head = "Done: grounded the sentence on the first frame"
        status = f"**{head}.** Boxes in the files are x,y,w,h in the video's pixels.\n\n{notes_text(result.notes)}"
        plot = score_table(result.scores) if result.video is not None else None
        # The player opens on the last tracked frame, not on frame 0 (a given box, score 1.00), so how the
        # run went shows before it is played.
        video = None if result.video is None else gr.update(value=str(result.video),
                                                            playback_position=result.last_frame_s)
        return status, image, video, plot, [str(p) for p in result.files]


def build_app(config: DemoConfig | None = None, store: pipeline.ModelStore | None = None) -> gr.Blocks:
    """The demo page, built but not launched; the model loads on the first run (or `store.load()`)."""
    config = config or config_from_env()
    store = store or pipeline.ModelStore(config)
    handlers = Handlers(config, store, Path(get_upload_folder()) / "jointnlt-runs")
    caps = (f"Limits: the first {config.max_frames} frames of a video, down-scaled to at most {config.max_side} "
            f"px a side; uploads up to {config.max_upload_mb} MB; {config.concurrency} run(s) at a time, others "
            "wait in the queue.")
    # analytics_enabled=False: no usage analytics and no version check, so the page starts offline.
    with gr.Blocks(title=TITLE, delete_cache=(1800, config.keep_runs_s), analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        with gr.Row():
            choices, notes = models.model_choices(store.weights)
            model_choice = gr.Dropdown([(c.label, c.ref) for c in choices], value=store.weights, label="Model",
                                       elem_id="model-choice", scale=1)
            model_notes = gr.Markdown(notes_text(notes), elem_id="model-notes")
        model_info = gr.Markdown(store.describe, elem_id="model-info")  # re-read on every page load
        gr.Markdown(caps, elem_id="caps")
        # Per session, dropped an hour after their last change (a closed tab leaves nothing behind for long).
        frame_state = gr.State(None, time_to_live=config.keep_runs_s)
        pending_click = gr.State(None, time_to_live=config.keep_runs_s)
        with gr.Row():
            with gr.Column(scale=1):
                video_in = gr.Video(label="Video", sources=["upload"], height=260, elem_id="video-in")
                text = gr.Textbox(label="Sentence", placeholder="e.g. the red car on the left", elem_id="sentence")
                mode = gr.Radio([(label, key) for key, label in MODES.items()], value=TRACK_NL, label="Mode",
                                elem_id="mode")
                with gr.Accordion("Box on the first frame (for NL+BB)", open=True):
                    # Labels as captions above the pictures: Gradio's label badge would cover their top-left.
                    gr.Markdown("First frame: click two opposite corners to draw a box", elem_classes="caption")
                    first_frame = gr.Image(label="First frame", show_label=False, interactive=False, height=260,
                                           elem_id="first-frame")
                    with gr.Row():
                        box = gr.Textbox(label="Box: x,y,w,h in the video's pixels", placeholder="optional",
                                         elem_id="box", scale=3)
                        clear = gr.Button("Clear box", size="sm", scale=1)
                attention = gr.Checkbox(label="Overlay the target query's attention (TQ/TC) on the video",
                                        elem_id="attention")
                category = gr.Checkbox(label="Sentence only: find the first box with the ImageNet category prior "
                                             "(for real videos with the bundled Lite; not the paper's grounding)",
                                       elem_id="category-prior")
                with gr.Row():
                    run = gr.Button("Run", variant="primary", elem_id="run")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                _examples(video_in, text, box, mode)
            with gr.Column(scale=1):
                status = gr.Markdown("", elem_id="status")
                gr.Markdown("First frame: the result", elem_classes="caption")
                grounding = gr.Image(label="First frame: the result", show_label=False, interactive=False,
                                     height=260, elem_id="grounding")
                gr.Markdown("Tracked video (H.264; it opens on the last tracked frame)", elem_classes="caption")
                video_out = gr.Video(label="Tracked video", show_label=False, interactive=False, height=300,
                                     elem_id="video-out")
                plot = gr.LinePlot(x="frame", y="score", y_lim=[0, 1], label="Confidence per frame", height=220,
                                   elem_id="scores")
                files = gr.File(label="Boxes: .txt (x,y,w,h per frame), .csv, .json", file_count="multiple",
                                interactive=False, elem_id="downloads")

        video_in.change(handlers.show_first_frame, [video_in, box],
                        [first_frame, frame_state, pending_click, status], concurrency_limit=4)
        first_frame.select(handlers.click, [frame_state, pending_click, box, mode],
                           [first_frame, pending_click, box, mode, status], queue=False)
        box.submit(handlers.edit_box, [frame_state, box, status], [first_frame, status], queue=False)
        box.blur(handlers.edit_box, [frame_state, box, status], [first_frame, status], queue=False)
        for changed in (text, box, mode):  # a warning about the old input goes when the input changes
            changed.input(clear_warning, status, status, queue=False)
        clear.click(handlers.clear_box, [frame_state, mode], [first_frame, pending_click, box, mode], queue=False)
        # Loading has no concurrency limit (each model loads once, under its own lock): a download of the
        # official model never holds one of the runs' slots, and a run of a loaded model passes straight on.
        model_choice.change(handlers.load_model, model_choice, model_info, concurrency_limit=None,
                            show_progress_on=[model_info])
        run.click(handlers.start, None, None, queue=False).then(
            handlers.load_model, model_choice, model_info, concurrency_limit=None, show_progress_on=[model_info]
        ).then(
            handlers.run, [video_in, text, box, mode, attention, category, model_choice],
            [status, grounding, video_out, plot, files], concurrency_limit=config.concurrency,
            concurrency_id="model",
            show_progress_on=[video_out]  # one bar, where the video will be; the first-frame result stays visible
        ).then(store.describe, model_choice, model_info, queue=False)  # the model line now says loaded (or why not)
        stop.click(handlers.stop, None, status, queue=False)
        app.load(handlers.model_list, None, [model_choice, model_notes], queue=False).then(
            store.describe, model_choice, model_info, queue=False)
    app.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size)
    return app


def _examples(video_in, text, box, mode) -> None:
    """The bundled examples, each as NL (sentence only) and, where it has a box, NL+BB."""
    rows, labels = [], []
    for example in pipeline.load_examples():
        path = str(pipeline.EXAMPLES_DIR / example["file"])
        rows.append([path, example["text"], "", TRACK_NL])
        labels.append(f"{example['title']} · NL")
        if example.get("box"):
            rows.append([path, example["text"], pipeline.format_box(example["box"]), TRACK_NLBB])
            labels.append(f"{example['title']} · NL+BB")
    if rows:
        gr.Examples(rows, [video_in, text, box, mode], example_labels=labels, label="Examples")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python app.py", description="Serve the JointNLT demo page.")
    p.add_argument("--weights", help="official (the paper's model, fetched once), an official .pth.tar, a "
                   "folder/.safetensors of ours, or hf://owner/repo (default: $JOINTNLT_WEIGHTS, else the bundled "
                   "JointNLT-Lite); the page also offers the others this machine has")
    p.add_argument("--device", help="cpu, cuda or auto (default; $JOINTNLT_DEVICE)")
    p.add_argument("--precision", help="auto (default: bf16 on CUDA and for the paper model on a CPU, else "
                   "fp32), fp32, bf16, fp16 or int8 (CPU)")
    p.add_argument("--accelerate", help="none (default; $JOINTNLT_ACCELERATE) or compile: torch.compile the "
                   "vision encoder (not with int8; the first run of a model compiles for minutes; docs/speed.md)")
    p.add_argument("--max-frames", type=int, help="track at most this many frames of a video (default 300)")
    p.add_argument("--max-side", type=int, help="down-scale frames larger than this many pixels (default 640)")
    p.add_argument("--threads", help=THREADS_HELP)
    p.add_argument("--host", help="address to listen on (default $GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default $GRADIO_SERVER_PORT, else 7860)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        config = config_from_env(weights=args.weights, device=args.device, precision=args.precision,
                                 accelerate=args.accelerate,
                                 max_frames=args.max_frames, max_side=args.max_side)
        store = pipeline.ModelStore(config)
        configure_threads(args.threads)
    except ValueError as err:  # a bad flag, variable or device: one line, like the CLIs
        sys.exit(f"error: {err}")
    app = build_app(config, store)
    # Load the model while the page starts, so the first run does not wait for it; a load error is shown
    # on the page (and here) rather than stopping the server.
    threading.Thread(target=_preload, args=(store,), daemon=True).start()
    app.launch(server_name=args.host, server_port=args.port, max_file_size=f"{config.max_upload_mb}mb",
               allowed_paths=[str(pipeline.EXAMPLES_DIR)], show_error=True, js=HIDE_PLAYER_TOAST)


def _preload(store: pipeline.ModelStore) -> None:
    try:
        store.load()
        print("model ready: " + store.describe().replace("**", "").replace("`", ""), file=sys.stderr)
    except Exception as err:  # reported on the page at every run
        print(f"warning: the model could not be loaded: {pipeline.first_line(err)}", file=sys.stderr)
