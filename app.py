"""Launches the JointNLT demo page: `python app.py` (see `python app.py --help`; on Hugging Face Spaces the
host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""

from demo.app import main

if __name__ == "__main__":
    main()
