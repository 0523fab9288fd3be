"""The demo's model list: which models this machine offers (bundled Lite, the paper's model cached or
downloadable, weights given at start-up), why one is not offered, and loading several side by side."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from demo import models, pipeline
from demo.config import DemoConfig
from kit.runtime import auto_precision
from kit.weights.checkpoint import save_pretrained
from kit.weights.loading import BUNDLED_MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SYNTHETIC = Path(__file__).resolve().parents[1] / "assets" / "examples" / "synthetic.mp4"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JOINTNLT_CACHE", str(tmp_path / "cache"))
    for name in ("JOINTNLT_OFFLINE", "HF_HUB_OFFLINE", "JOINTNLT_WEIGHTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


def refs(choices):
    return [c.ref for c in choices]


def test_a_fresh_machine_offers_lite_and_the_downloadable_paper_model(cache):
    choices, notes = models.model_choices(str(BUNDLED_MODEL))
    assert refs(choices) == [str(BUNDLED_MODEL), "official"]
    assert any("downloaded from the authors' Google Drive on first use" in n for n in notes)


def test_offline_the_paper_model_is_not_offered_and_the_page_says_why(cache, monkeypatch):
    monkeypatch.setenv("JOINTNLT_OFFLINE", "1")
    choices, notes = models.model_choices(str(BUNDLED_MODEL))
    assert refs(choices) == [str(BUNDLED_MODEL)]
    assert any(n.startswith("The paper's model is not available here: this server is offline") and
               "JointNLT_ep0300.pth.tar" in n and "--weights PATH" in n for n in notes)


def test_an_unwritable_cache_is_the_reason_given(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(models.os, "access", lambda path, mode: False)
    choices, notes = models.model_choices(str(BUNDLED_MODEL))
    assert "official" not in refs(choices)
    assert any("is not writable: set JOINTNLT_CACHE" in n for n in notes)


def test_a_cached_paper_model_is_offered_offline(cache, tiny_weights, monkeypatch):
    import shutil

    shutil.copytree(tiny_weights, cache / "official")
    monkeypatch.setenv("JOINTNLT_OFFLINE", "1")
    choices, notes = models.model_choices(str(BUNDLED_MODEL))
    assert "official" in refs(choices) and any("cached in" in n and "loads in seconds" in n for n in notes)


def test_weights_given_at_start_up_come_first(cache, tiny_weights):
    choices, _ = models.model_choices(str(tiny_weights))
    assert refs(choices) == [str(tiny_weights), str(BUNDLED_MODEL), "official"]
    assert choices[0].label == f"Given at start-up: {tiny_weights}"


def test_auto_precision_is_bf16_for_the_paper_model_only_on_bf16_hardware():
    assert auto_precision("cpu", "paper", cpu_bf16=True) == "bf16"
    assert auto_precision("cpu", "paper", cpu_bf16=False) == "fp32"
    assert auto_precision("cpu", "lite") == "fp32"
    assert auto_precision("cuda", "lite") == "bf16"


def test_two_models_load_side_by_side_and_a_failure_stays_with_its_model(tiny_weights, tmp_path):
    from kit.weights.loading import load_model

    other = save_pretrained(load_model(tiny_weights), tmp_path / "other")
    store = pipeline.ModelStore(DemoConfig(weights=str(tiny_weights), device="cpu"))
    assert store.load() is not store.load(str(other))
    assert store.is_loaded() and store.is_loaded(str(other)) and not store.is_loaded("official")
    missing = str(tmp_path / "missing.pth.tar")
    with pytest.raises(Exception, match="no such file"):
        store.load(missing)
    assert "could not be loaded" in store.describe(missing) and "could not be loaded" not in store.describe()
    assert store.describe(str(other)).startswith(f"**Model:** `{other}` · **device:** CPU")


def test_the_official_model_loads_through_the_fetch_with_progress(tiny_weights, monkeypatch):
    seen = {}

    def fetch(progress=None, **kwargs):
        progress(512, 1024)
        seen["progress"] = progress
        return tiny_weights

    monkeypatch.setattr("kit.weights.official.fetch_official", fetch)
    store = pipeline.ModelStore(DemoConfig(device="cpu"))
    calls = []
    store.load("official", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(512, 1024)] and store.is_loaded("official")
    assert store.describe("official").startswith("**Model:** JointNLT, the paper's model (the authors' checkpoint) ·")


def test_the_page_handlers_load_and_run_the_picked_model(tiny_weights, tmp_path):
    from demo.app import Handlers

    store = pipeline.ModelStore(DemoConfig(weights=str(BUNDLED_MODEL), device="cpu"))
    handlers = Handlers(DemoConfig(max_frames=3), store, tmp_path / "runs")
    bars = []
    line = handlers.load_model(str(tiny_weights), progress=lambda *a, **k: bars.append(k.get("desc")))
    assert line.startswith(f"**Model:** `{tiny_weights}` · ") and bars == ["Loading the model…"]
    assert not store.is_loaded()  # only the picked model was loaded
    updates = list(handlers.run(str(SYNTHETIC), "the tangerine diamond on top", "", pipeline.TRACK_NL, False, False,
                                SimpleNamespace(session_hash="s"), str(tiny_weights)))
    assert updates[-1][0].startswith("**Done: 3 frames.**") and not store.is_loaded()
    failed = handlers.load_model(str(tmp_path / "nope.pth.tar"), progress=lambda *a, **k: None)
    assert "**could not be loaded:**" in failed and "no such file" in failed
