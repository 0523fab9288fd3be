"""Builds the Gradio page served by `python app.py`. Today a placeholder that says what is not built yet."""

import os

# No usage analytics or version check: the demo must start offline. Must be set before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

TITLE = "JointNLT — joint visual grounding and tracking with natural language"

PLACEHOLDER_TEXT = f"""
# {TITLE}

**The browser demo is not built yet.** This page is a placeholder; the interactive demo
(describe a target in words, ground it in a frame, then track it through a video) is a later issue.

**What works today** (see the README): the model package `kit/` — the JointNLT model with official-checkpoint
loading and parity tests, and tracking from the command line with a checkpoint you have:

```bash
python -m kit.track video.mp4 --text "the zebra on the left" --weights JointNLT_ep0300.pth.tar --out tracked.mp4
```

No model is bundled yet, so this page cannot track anything on its own.

**Run the tests** from the repository root:

```bash
python -m pytest            # fast tests (slow ones are skipped)
python -m pytest -m slow    # only the slow tests
```

The parity tests need the reference outputs in `../shared/reference/golden-mini`
(or a directory named by `JOINTNLT_GOLDEN_DIR`); without them they are skipped with a reason.
"""


def build_app() -> gr.Blocks:
    """The demo page, built but not launched (call `.launch()` on it)."""
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(PLACEHOLDER_TEXT)
    return app
