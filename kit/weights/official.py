"""The paper's model in one step: find the authors' released checkpoint in their Google Drive folder, download
it into a cache (resumable, with progress), check it strictly, convert it once to our format and delete the
pickle. Later starts read only the converted folder: seconds, no pickle.

`load_model("official")`, `--weights official` and `JOINTNLT_WEIGHTS=official` all come here.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kit.weights.files import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, first_line

OFFICIAL = "official"  # the weights reference that names this model
# The "Models" folder linked from the official README (github.com/lizhou-cs/JointNLT @94b338e).
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1ZKBDhgXgV1GLSzFxw5fqpqdZuX1hjfQe"
FILE_NAME = "JointNLT_ep0300.pth.tar"
CACHE_ENV = "JOINTNLT_CACHE"
URL_ENV = "JOINTNLT_OFFICIAL_URL"  # a direct download URL of the same file (a mirror) instead of the folder
RETRIES, TIMEOUT_S = 3, 60  # a dropped connection is resumed up to 3 times; 60 s without a byte is a drop


class FetchError(CheckpointError):
    """The official checkpoint could not be fetched; str() is one line that says what to do."""


def cache_root(cache: str | Path | None = None) -> Path:
    """`cache`, else $JOINTNLT_CACHE, else $XDG_CACHE_HOME/jointnlt (~/.cache/jointnlt)."""
    if cache:
        return Path(cache).expanduser()
    if os.environ.get(CACHE_ENV, "").strip():
        return Path(os.environ[CACHE_ENV].strip()).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "jointnlt"


def converted_dir(cache: str | Path | None = None) -> Path:
    """Where the converted model lives: <cache>/official/{model.safetensors,config.json}."""
    return cache_root(cache) / OFFICIAL


def download_path(cache: str | Path | None = None) -> Path:
    """Where the downloaded file waits for conversion (a file put here by hand is converted, not fetched)."""
    return cache_root(cache) / "downloads" / FILE_NAME


def is_cached(cache: str | Path | None = None) -> bool:
    folder = converted_dir(cache)
    return (folder / WEIGHTS_NAME).is_file() and (folder / CONFIG_NAME).is_file()


def what_to_do(cache: str | Path | None = None) -> str:
    return (f"Download {FILE_NAME} by hand from {DRIVE_FOLDER} and pass --weights PATH (or put it at "
            f"{download_path(cache)} and try again).")


def fetch_official(cache: str | Path | None = None, *, url: str | None = None, quiet: bool = False,
                   progress: Callable[[int, int | None], None] | None = None, retries: int = RETRIES) -> Path:
    """The converted official model's folder, fetched and converted first if it is not cached.

    `url` (else $JOINTNLT_OFFICIAL_URL, else the file found in the authors' Drive folder) is where the file
    is downloaded from. `progress(bytes_done, bytes_total)` is called as bytes arrive; without `quiet` a
    progress bar goes to stderr. A broken transfer leaves a `.part` file that the next call resumes; a
    finished file that is not a usable checkpoint is deleted. Every failure is a one-line `FetchError`."""
    from filelock import FileLock  # a gdown dependency: two processes starting at once download once

    target = converted_dir(cache)
    if is_cached(cache):
        return target
    raw = download_path(cache)
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FetchError(f"the cache folder {raw.parent} cannot be created ({first_line(err)}); set "
                         f"{CACHE_ENV} to a writable folder.") from err
    with FileLock(str(raw.parent / ".lock")):
        if is_cached(cache):
            return target
        source = url or os.environ.get(URL_ENV, "").strip() or None
        if not raw.is_file():
            try:
                source = source or locate(DRIVE_FOLDER)
                _download(source, raw, cache=cache, quiet=quiet, progress=progress, retries=retries)
            except FetchError:
                raise
            except Exception as err:  # offline, HTTP errors, Drive's quota page, a cut connection, ...
                raise FetchError(f"the official JointNLT checkpoint could not be downloaded ({_reason(err)}). "
                                 f"{what_to_do(cache)}") from err
        return _convert_download(raw, target, source, cache=cache, quiet=quiet)


def locate(folder_url: str = DRIVE_FOLDER) -> str:
    """The download URL of FILE_NAME in the authors' Drive folder (listed by gdown, nothing downloaded)."""
    import gdown

    files = gdown.download_folder(url=folder_url, skip_download=True, quiet=True)
    for entry in files:
        if Path(entry.path).name == FILE_NAME:
            return f"https://drive.google.com/uc?id={entry.id}"
    names = ", ".join(Path(e.path).name for e in files) or "nothing"
    raise FetchError(f"{FILE_NAME} is not in the authors' Drive folder any more (it holds: {names}). "
                     f"Look for the checkpoint in the official README (github.com/lizhou-cs/JointNLT) and pass "
                     "--weights PATH.")


def _download(url: str, dest: Path, *, cache, quiet: bool, progress, retries: int) -> None:
    """gdown: Drive's confirmation pages, resume of `<dest>XXXXXXXX.part` (Range + If-Range), retries; the
    file appears under `dest` only when complete."""
    import gdown

    gdown.download(url=url, output=str(dest), quiet=quiet, resume=True, progress=progress, retries=retries,
                   timeout=TIMEOUT_S, cookies_file=str(cache_root(cache) / "downloads" / "gdown-cookies.txt"))
    if not dest.is_file():
        raise FetchError(f"the download of {FILE_NAME} finished without a file. {what_to_do(cache)}")


def _convert_download(raw: Path, target: Path, source: str | None, *, cache, quiet: bool) -> Path:
    from kit.weights.convert import convert

    try:
        conversion = convert(raw, target, overwrite=True, source={
            "name": "JointNLT (Zhou et al., CVPR 2023), the authors' released checkpoint",
            "file": FILE_NAME, "folder": DRIVE_FOLDER, "url": source or "(placed in the cache by hand)"})
    except CheckpointError as err:
        raw.unlink(missing_ok=True)
        raise FetchError(f"the downloaded {FILE_NAME} is not a usable checkpoint and was deleted ({err}) "
                         f"{what_to_do(cache)}") from err
    raw.unlink(missing_ok=True)  # the pickle (with the training objects) is not needed any more
    if not quiet:
        import sys

        print(f"converted once: {conversion.summary()}; later starts read {target}", file=sys.stderr)
    return target


def _reason(err: BaseException) -> str:
    """Why a download failed, in a few words a user can act on."""
    import requests
    from gdown.exceptions import FileURLRetrievalError

    cause = err
    while cause.__cause__ is not None and not isinstance(cause, requests.ConnectionError):
        cause = cause.__cause__
    if isinstance(cause, requests.ConnectionError):
        return "no connection to the server: offline?"
    if isinstance(err, FileURLRetrievalError):
        return ("Google Drive refused it: too many downloads of the file today (try again tomorrow) or it "
                "moved or is no longer public")
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code} from {err.response.url}"
    text = " ".join(str(err).split())
    if text.startswith("Download is incomplete"):  # gdown kept the .part file
        received = text.split(".")[0].removeprefix("Download is incomplete: ")
        return f"the connection was cut, {received}; the next start resumes it"
    return text if len(text) <= 200 else text[:200] + "..."
