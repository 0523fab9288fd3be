"""kit.weights: the official checkpoint fetched from a fake Drive server on 127.0.0.1 (first fetch, cached
start, resume after a cut connection, corrupt/truncated/refused/offline downloads), conversion round trips,
`info`, and `push` as a dry run and against a stand-in Hub API. Nothing here touches the internet."""
import http.server
import json
import re
import socket
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kit.weights.checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointError
from kit.weights.loading import load_model
from kit.config import bert_config_from_official, get_preset
from kit.model import build_model
from kit.weights import official
from kit.weights.__main__ import main
from kit.weights.convert import convert, describe
from kit.weights.hub import push

pytestmark = pytest.mark.usefixtures("one_torch_thread")


BERT = {"vocab_size_or_config_json_file": 30522, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 64, "type_vocab_size": 2}


class Settings:
    """A training object of the official code, pickled with the checkpoint (never imported on load)."""

    def __init__(self):
        self.env = {"workspace_dir": "/home/someone/JointNLT"}


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    """A small checkpoint in the official wrapper: 'net' + optimizer state + a pickled training object. Its
    BERT is tiny but has the full vocabulary, so that real sentences can be tracked."""
    cfg = get_preset("mini_test")
    cfg.language.hf_config = bert_config_from_official(BERT)
    torch.manual_seed(0)
    net = build_model(cfg).state_dict()
    path = tmp_path_factory.mktemp("official") / official.FILE_NAME
    torch.save({"epoch": 300, "net_type": "TransNLT", "net": net, "variant": "mini_test", "bert_config": BERT,
                "optimizer": {"state": {0: {"exp_avg": torch.zeros(1000)}}, "param_groups": [{"lr": 1e-4}]},
                "settings": Settings()}, path)
    return path, net


class FakeDrive(http.server.ThreadingHTTPServer):
    """Serves one file at /file with Range support (206 + Content-Range, ETag), like Drive's download
    endpoint. `cut_after`: the next full response announces the whole length but stops after that many
    bytes; `body`: serve these bytes instead; `status`: answer with this HTTP status."""

    def __init__(self, data: bytes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.data, self.cut_after, self.body, self.status = data, None, None, None
        self.requests: list[str | None] = []  # the Range header of each request (None = whole file)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/file"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        server: FakeDrive = self.server
        server.requests.append(self.headers.get("Range"))
        if server.status:
            self.send_error(server.status, "quota exceeded")
            return
        data = server.body if server.body is not None else server.data
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match:
            start = int(match[1])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", f'attachment; filename="{official.FILE_NAME}"')
        self.send_header("ETag", '"v1"')
        if server.body is None or server.cut_after is not None:
            self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        end = len(data)
        if server.cut_after is not None:
            end, server.cut_after = server.cut_after, None
            self.close_connection = True
        try:
            self.wfile.write(data[start:end])
        except (BrokenPipeError, ConnectionResetError):  # the client hung up (gdown probes headers first)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def drive(official_file, tmp_path, monkeypatch):
    """The fake server, a fresh cache, and the Drive folder lookup made to fail loudly if ever reached."""
    server = FakeDrive(official_file[0].read_bytes())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("JOINTNLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("JOINTNLT_OFFICIAL_URL", server.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setattr(official, "locate", lambda *a: pytest.fail("the Drive folder was asked for"))
    yield server
    server.shutdown()
    server.server_close()


def one_line(err, *parts):
    text = str(err)
    assert "\n" not in text and "Traceback" not in text, text
    for part in parts:
        assert part in text, text


def assert_no_cache_entry():
    assert not official.is_cached()
    assert not official.converted_dir().exists()
    assert not official.download_path().exists()


# ---------------------------------------------------------------------------------------------------
# Fetch

def test_first_fetch_converts_once_and_later_starts_read_no_pickle(drive, official_file, monkeypatch, capsys):
    model = load_model("official")
    assert len(drive.requests) == 1
    folder = official.converted_dir()
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    assert not official.download_path().exists()  # the pickle is deleted after conversion
    for key, value in official_file[1].items():
        assert torch.equal(model.state_dict()[key], value), key
    saved = json.loads((folder / CONFIG_NAME).read_text())
    assert saved["dtype"] == "fp32" and saved["source"]["url"] == drive.url
    assert "converted once" in capsys.readouterr().err

    # second start: no request, no pickle
    monkeypatch.setattr("kit.weights.checkpoint.read_official", lambda *a, **k: pytest.fail("read a pickle"))
    monkeypatch.setattr("kit.weights.convert.read_official", lambda *a, **k: pytest.fail("read a pickle"))
    again = load_model("official")
    assert len(drive.requests) == 1
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_the_environment_variable_and_the_cli_reach_the_same_model(drive, monkeypatch, capsys):
    from kit.weights.loading import default_weights

    monkeypatch.setenv("JOINTNLT_WEIGHTS", "official")
    assert default_weights() == "official"
    assert load_model().config.name == "mini_test"
    assert main(["fetch", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(official.converted_dir())
    assert len(drive.requests) == 1


def test_track_a_video_with_the_official_weights_from_a_fresh_cache(drive, tmp_path):
    from kit.track import main as track
    from kit.tracking.boxfiles import read_boxes_txt
    from kit.tracking.video import VideoWriter

    video = tmp_path / "clip.mp4"
    with VideoWriter(video, 10, 160, 96) as writer:
        for i in range(4):
            frame = np.full((96, 160, 3), 110, np.uint8)
            frame[30:60, 20 + 5 * i:50 + 5 * i] = (220, 30, 30)
            writer.write(frame)
    status = track([str(video), "--text", "the red square", "--weights", "official", "--device", "cpu",
                    "--boxes", str(tmp_path / "boxes.txt"), "--quiet"])
    assert status == 0 and read_boxes_txt(tmp_path / "boxes.txt").shape == (4, 4)
    assert len(drive.requests) == 1 and official.is_cached()


def test_resume_after_a_cut_connection(drive, official_file):
    size = len(drive.data)
    drive.cut_after = size // 3
    with pytest.raises(official.FetchError) as err:
        official.fetch_official(quiet=True, retries=0)
    one_line(err.value, "could not be downloaded (the connection was cut, received", "the next start resumes it",
             "--weights PATH", official.DRIVE_FOLDER)
    assert not official.is_cached() and not official.download_path().exists()
    parts = list(official.download_path().parent.glob("*.part"))
    kept = parts[0].stat().st_size if len(parts) == 1 else -1
    assert 0 < kept <= size // 3  # whole 512 KiB chunks that arrived before the cut

    official.fetch_official(quiet=True, retries=0)  # the next start picks the partial file up
    assert drive.requests[0] is None and drive.requests[-1] == f"bytes={kept}-"  # (gdown probes the headers)
    assert official.is_cached() and not list(official.download_path().parent.glob("*.part"))
    model = load_model("official")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in official_file[1].items())


def test_a_cut_connection_is_resumed_within_one_fetch(drive, monkeypatch):
    module = sys.modules["gdown.download"]  # (the package's `download` attribute is the function)
    monkeypatch.setattr(module, "random", SimpleNamespace(uniform=lambda a, b: 0.0))  # no back-off wait
    drive.cut_after = len(drive.data) // 2
    official.fetch_official(quiet=True, retries=1)
    assert len(drive.requests) == 2 and drive.requests[0] is None and official.is_cached()
    assert 0 < int(drive.requests[1][len("bytes="):-1]) <= len(drive.data) // 2


@pytest.mark.parametrize("body", [b"<!DOCTYPE html><html>Google Drive - quota exceeded</html>", "half"])
def test_a_corrupt_or_truncated_download_leaves_no_cache_entry(drive, body):
    # served without a length, so the client cannot tell that it is short or wrong until it reads the file
    drive.body = drive.data[: len(drive.data) // 2] if body == "half" else body
    with pytest.raises(official.FetchError) as err:
        official.fetch_official(quiet=True, retries=0)
    one_line(err.value, "is not a usable checkpoint and was deleted", "--weights PATH")
    assert_no_cache_entry()
    drive.body = None  # the next start downloads again, from the start
    official.fetch_official(quiet=True, retries=0)
    assert drive.requests == [None, None] and official.is_cached()


def test_a_refused_download_is_one_line(drive):
    drive.status = 403
    with pytest.raises(official.FetchError) as err:
        official.fetch_official(quiet=True, retries=0)
    one_line(err.value, "HTTP 403", official.DRIVE_FOLDER, str(official.download_path()), "--weights PATH")
    assert_no_cache_entry()


def test_offline_is_one_line(drive, monkeypatch, capsys):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("JOINTNLT_OFFICIAL_URL", f"http://127.0.0.1:{port}/file")
    with pytest.raises(official.FetchError) as err:
        load_model("official")
    one_line(err.value, "offline?", official.DRIVE_FOLDER, "--weights PATH")
    assert_no_cache_entry()
    capsys.readouterr()
    assert main(["fetch", "--quiet"]) == 2
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and line.startswith("error: the official JointNLT checkpoint could not be")


def test_a_file_put_in_the_cache_by_hand_is_converted_without_downloading(drive, official_file):
    official.download_path().parent.mkdir(parents=True)
    official.download_path().write_bytes(official_file[0].read_bytes())
    official.fetch_official(quiet=True)
    assert drive.requests == [] and official.is_cached()


def test_the_drive_folder_is_searched_for_the_file(monkeypatch):
    import gdown
    from gdown.download import GoogleDriveFileToDownload as Entry

    listing = [Entry("x" * 33, "Models/README.txt", ""), Entry("a1" * 17, f"Models/{official.FILE_NAME}", "")]
    monkeypatch.setattr(gdown, "download_folder", lambda **kw: listing if kw["skip_download"] else None)
    assert official.locate() == f"https://drive.google.com/uc?id={'a1' * 17}"
    monkeypatch.setattr(gdown, "download_folder", lambda **kw: listing[:1])
    with pytest.raises(official.FetchError) as err:
        official.locate()
    one_line(err.value, "is not in the authors' Drive folder any more (it holds: README.txt)", "--weights PATH")


def test_drive_refusing_the_file_says_quota_or_moved(tmp_path, monkeypatch):
    import gdown

    def refuse(**kwargs):
        raise gdown.exceptions.FileURLRetrievalError("Failed to retrieve file url:\n\n\tToo many users")

    monkeypatch.setenv("JOINTNLT_CACHE", str(tmp_path))
    monkeypatch.setattr(official, "locate", lambda *a: "https://drive.google.com/uc?id=" + "b" * 33)
    monkeypatch.setattr(gdown, "download", refuse)
    with pytest.raises(official.FetchError) as err:
        official.fetch_official(quiet=True)
    one_line(err.value, "too many downloads of the file today", "moved", official.DRIVE_FOLDER)


# ---------------------------------------------------------------------------------------------------
# Convert and info

def test_convert_fp32_is_bit_exact_and_keeps_only_the_weights(official_file, tmp_path):
    from safetensors.torch import load_file

    result = convert(official_file[0], tmp_path / "ours")
    stored = load_file(tmp_path / "ours" / WEIGHTS_NAME)
    assert stored.keys() == official_file[1].keys()
    assert all(torch.equal(stored[k], v) for k, v in official_file[1].items())
    assert any(d.startswith("settings (") and "Settings" in d for d in result.dropped)
    assert any(d.startswith("optimizer") for d in result.dropped)
    assert "weights only" in result.summary()
    assert result.parameters == sum(p.numel() for p in load_model(tmp_path / "ours").parameters())


@pytest.mark.parametrize("dtype, torch_dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_convert_to_half_precision_rounds_each_weight_once(official_file, tmp_path, dtype, torch_dtype):
    from safetensors.torch import load_file

    convert(official_file[0], tmp_path / dtype, dtype=dtype)
    stored = load_file(tmp_path / dtype / WEIGHTS_NAME)
    for key, value in official_file[1].items():
        expected = value.to(torch_dtype) if value.is_floating_point() else value
        assert stored[key].dtype == expected.dtype and torch.equal(stored[key], expected), key
    assert describe(tmp_path / dtype)["dtype"] == dtype
    assert describe(tmp_path / dtype)["size_bytes"] < 0.6 * describe(official_file[0])["size_bytes"]


def test_convert_refuses_an_existing_folder_and_bad_input(official_file, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert main(["convert", str(official_file[0]), str(tmp_path / "taken")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "nope.pth.tar"), str(tmp_path / "out")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "page.pth.tar").write_text("<html>quota</html>")
    assert main(["convert", str(tmp_path / "page.pth.tar"), str(tmp_path / "out")]) == 2
    assert "HTML page" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_info_of_both_formats(official_file, tmp_path, capsys):
    convert(official_file[0], tmp_path / "ours", dtype="bf16")
    assert main(["info", str(tmp_path / "ours")]) == 0
    text = capsys.readouterr().out
    assert "mini_test" in text and "bf16" in text and f"converted from {official_file[0]}" in text
    assert main(["info", str(official_file[0]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"].startswith("official") and info["dtype"] == "fp32"
    assert any("Settings" in entry for entry in info["source"]["official_entries"])


def test_golden_weights_convert_exactly_and_bf16_stays_within_tolerance(golden_dir, tmp_path):
    """fp32: the converted folder gives the same boxes bit for bit; bf16 weights (run in bf16) stay within
    1e-2 (normalised) of fp32 on the golden inputs, as docs/weights.md states."""
    from kit.runtime import inference, precast_weights

    io = torch.load(golden_dir / "model_io.pt", weights_only=False)

    def boxes(model, precision):
        with inference("cpu", precision):
            text = model.encode_text(io["text_ids"], io["text_mask"])
            grounding = model.ground(text, model.encode_image(io["grounding_img"],
                                                              torch.as_tensor(io["grounding_att"]).bool()))
            search = model.encode_image(io["search_img"], torch.as_tensor(io["search_att"])[None])
            template = model.encode_image(io["template_img"], torch.as_tensor(io["template_att"])[None])
            tracking = model.track(text, template, search, io["temporal72"])
        return torch.cat([grounding.boxes.float(), tracking.boxes.float()])

    reference = boxes(load_model(golden_dir / "weights.pth"), "fp32")
    convert(golden_dir / "weights.pth", tmp_path / "fp32")
    assert torch.equal(boxes(load_model(tmp_path / "fp32"), "fp32"), reference)
    convert(tmp_path / "fp32", tmp_path / "bf16", dtype="bf16")
    low = boxes(precast_weights(load_model(tmp_path / "bf16"), "bf16"), "bf16")
    assert 0 < (low - reference).abs().max() < 1e-2


# ---------------------------------------------------------------------------------------------------
# Push

def test_push_dry_run_writes_what_hf_would_load(official_file, tmp_path, capsys):
    convert(official_file[0], tmp_path / "ours")
    assert main(["push", str(tmp_path / "ours"), "someone/jointnlt", "--dry-run", str(tmp_path / "repo")]) == 0
    assert "wrote model.safetensors, config.json, README.md" in capsys.readouterr().out
    card = (tmp_path / "repo" / "README.md").read_text()
    for part in ("license: mit", "# someone/jointnlt", "`mini_test`", "MIT licence", "bit for bit",
                 f"python -m kit.weights convert {official_file[0]}", "--weights hf://someone/jointnlt"):
        assert part in card, part
    model = load_model(tmp_path / "repo")  # what was written is what `hf://someone/jointnlt` would serve
    assert f"{sum(p.numel() for p in model.parameters()):,}" in card
    assert all(torch.equal(model.state_dict()[k], v) for k, v in official_file[1].items())


def test_push_uploads_in_one_commit_through_the_hub_api(official_file, tmp_path):
    class StandInApi:
        def __init__(self):
            self.calls = []

        def create_repo(self, repo_id, **kwargs):
            self.calls.append(("create_repo", repo_id, kwargs))

        def create_commit(self, repo_id, operations, **kwargs):
            self.calls.append(("create_commit", repo_id, sorted(op.path_in_repo for op in operations)))

    convert(official_file[0], tmp_path / "ours", dtype="bf16")
    api = StandInApi()
    assert push(tmp_path / "ours", "hf://someone/jointnlt", api=api) == [WEIGHTS_NAME, CONFIG_NAME, "README.md"]
    assert api.calls == [("create_repo", "someone/jointnlt", {"repo_type": "model", "private": False,
                                                               "exist_ok": True}),
                         ("create_commit", "someone/jointnlt", ["README.md", CONFIG_NAME, WEIGHTS_NAME])]


def test_push_errors_are_one_line(official_file, tmp_path):
    with pytest.raises(CheckpointError) as err:
        push(official_file[0].parent, "someone/jointnlt", dry_run=tmp_path / "x")
    one_line(err.value, "is not a folder of ours", "python -m kit.weights convert")
    convert(official_file[0], tmp_path / "ours")
    for bad in ("just-a-name", "someone/jointnlt/file.bin"):
        with pytest.raises(CheckpointError) as err:
            push(tmp_path / "ours", bad, dry_run=tmp_path / "x")
        one_line(err.value, "is not a repository name")

    class Refusing:
        def create_repo(self, *args, **kwargs):
            raise PermissionError("401 Client Error: Unauthorized\nmore lines")

    with pytest.raises(CheckpointError) as err:
        push(tmp_path / "ours", "someone/jointnlt", api=Refusing())
    one_line(err.value, "uploading to someone/jointnlt failed (401 Client Error: Unauthorized)", "hf auth login")
