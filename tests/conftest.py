"""Shared test fixtures. Tests never touch the network: the Hub client is put in offline mode here, before
any test imports huggingface_hub or transformers (both read the setting at import time)."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """A directory of official-code outputs (`weights.pth`, `model_io.pt`, ...): $JOINTNLT_GOLDEN_DIR, else
    `../shared/reference/golden-mini` beside the repository. If it is absent the test is skipped, or fails
    when JOINTNLT_REQUIRE_GOLDEN=1 (CI: a parity suite that silently skips proves nothing)."""
    env = os.environ.get("JOINTNLT_GOLDEN_DIR")
    path = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "reference" / "golden-mini"
    if (path / "weights.pth").is_file():
        return path
    reason = f"golden directory {path} not found (or has no weights.pth); set JOINTNLT_GOLDEN_DIR"
    if os.environ.get("JOINTNLT_REQUIRE_GOLDEN") == "1":
        pytest.fail(f"{reason} (JOINTNLT_REQUIRE_GOLDEN=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A small random model (our format) with the full bert-base-uncased vocabulary, so real sentences fit:
    for tests of the tracker, the CLI and the evaluation runner that need a checkpoint on disk."""
    import torch

    from kit.weights.checkpoint import save_pretrained
    from kit.config import get_preset
    from kit.model import build_model

    cfg = get_preset("mini_test")
    cfg.language.hf_config.update(vocab_size=30522, hidden_size=32, num_attention_heads=2, intermediate_size=64)
    cfg.vision.depths = (1, 1, 1)
    cfg.search_size, cfg.template_size = 160, 64
    torch.manual_seed(0)
    return save_pretrained(build_model(cfg), tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: the tiny test models gain nothing from threads, and
    busy-waiting threads crawl on a shared 2-core machine. Use with pytestmark = usefixtures(...)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_thread_governor_left_over():
    """A test that runs a command line or the demo in-process calls kit.runtime.configure_threads, which on a
    2-core machine installs the adaptive thread governor for the whole process. Later tests compare boxes
    bit for bit, and a thread count that changes between frames changes the float sums: reset it."""
    yield
    import torch

    from kit import runtime

    if runtime._GOVERNOR is not None:
        runtime._GOVERNOR = None
        torch.set_num_threads(2 if runtime.available_cores() >= 2 else 1)
