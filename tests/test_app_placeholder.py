"""The placeholder demo page: it builds without launching, says the demo is not there yet, stays light."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _page_text(app) -> str:
    """All text the page sends to the browser (component values in the frontend config)."""
    config = app.get_config_file()
    values = [c.get("props", {}).get("value") for c in config["components"]]
    return "\n".join(v for v in values if isinstance(v, str))


def test_placeholder_page_says_demo_is_not_built_yet():
    pytest.importorskip("gradio")
    from demo.app import TITLE, build_app

    app = build_app()
    text = _page_text(app)

    assert app.title == TITLE
    assert "JointNLT" in text
    assert "not built yet" in text
    assert "python -m pytest" in text


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_importing_kit_does_not_import_gradio():
    result = _run_python("import kit, sys; assert 'gradio' not in sys.modules, 'kit imported gradio'")
    assert result.returncode == 0, result.stderr


def test_demo_page_does_not_import_torch():
    pytest.importorskip("gradio")
    result = _run_python("import demo.app, sys; assert 'torch' not in sys.modules, 'demo.app imported torch'")
    assert result.returncode == 0, result.stderr
