"""Launches the JointNLT demo page: `python app.py` (host/port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""

from demo.app import build_app

# Built at module level under the name `demo`: Hugging Face Spaces runs `python app.py` (so the __main__
# guard below launches it there too), and `gradio app.py` (auto-reload while editing) looks for a Blocks
# object named `demo` in this file. Launching only under __main__ keeps `import app` side-effect free.
demo = build_app()

if __name__ == "__main__":
    demo.launch()
