"""Publish a folder of ours on the Hugging Face Hub with a generated model card, after which
`hf://owner/repo` loads it anywhere. `dry_run` writes exactly what would be uploaded into a local folder."""
from __future__ import annotations

import shutil
from pathlib import Path

from kit.weights.files import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, first_line
from kit.weights.refs import parse_hub_ref
from kit.weights.convert import describe

CARD_NAME = "README.md"
PAPER = ("JointNLT: *Joint Visual Grounding and Tracking with Natural Language Specification* "
         "(Zhou et al., CVPR 2023)")


def model_card(info: dict, repo_id: str) -> str:
    """The Hub page of the weights: what they are, where from, licence, size, parity, how they were made."""
    source = info.get("source") or {}
    origin = source.get("name") or f"converted from `{source.get('converted_from', info['reference'])}`"
    where = f" (`{source['file']}`, Google Drive folder {source['folder']})" if source.get("folder") else ""
    dtype = info["dtype"]
    parity = ("fp32, unchanged: every tensor equals the source checkpoint's bit for bit (weights only; the "
              "training objects of the official file are not included). The kit reproduces the official code's "
              "intermediates and boxes on its parity fixtures (fp32, CPU)." if dtype == "fp32" else
              f"{dtype}: each weight of the fp32 source rounded once to {dtype} (round to nearest). On the kit's "
              "parity inputs the boxes stay within 1e-2 (normalised) of fp32; loading upcasts to fp32, so run it "
              f"with `--precision {dtype}`.")
    commands = source.get("command", "python -m kit.weights convert SRC DST")
    return f"""---
license: mit
library_name: pytorch
tags: [jointnlt, visual-grounding, object-tracking, vision-language, jointnlt-kit]
---

# {repo_id}

{PAPER}: weights in the JointNLT kit's format, `{WEIGHTS_NAME}` (weights only, {dtype}) + `{CONFIG_NAME}`
(the model config).

| | |
| --- | --- |
| source | {origin}{where} |
| variant | `{info['variant']}` |
| parameters | {info['parameters']:,} ({info['parameters'] / 1e6:.1f} M) |
| dtype | {dtype} |
| size | {info['size_bytes'] / 2**20:.0f} MiB |

**Licence.** The official JointNLT code (github.com/lizhou-cs/JointNLT) is released under the MIT licence
(Copyright (c) 2021 Multimedia Computing Group, Nanjing University); its README states no separate terms for
the trained weights. The MIT notice applies to this copy; check with the authors before uses beyond research.

**Parity.** {parity}

**Made with**

```bash
{commands}
python -m kit.weights push DST {repo_id}
```

## Use

```bash
python -m kit.track video.mp4 --text "the zebra on the left" --weights hf://{repo_id} --precision bf16
```

```python
from kit.weights.loading import load_model
model = load_model("hf://{repo_id}")
```
"""


def push(folder: str | Path, repo_id: str, *, dry_run: str | Path | None = None, private: bool = False,
         token: str | None = None, api=None) -> list[str]:
    """Upload `model.safetensors`, `config.json` and a generated `README.md` to the model repo `repo_id`
    (created if needed) in one commit. With `dry_run`, write those files into that local folder instead.
    Returns the paths in the repository."""
    folder = Path(folder).expanduser()
    hub = parse_hub_ref(repo_id.removeprefix("hf://"))
    if hub is None or hub[1] is not None or hub[2] is not None:
        raise CheckpointError(f"{repo_id!r} is not a repository name; use owner/repo.")
    repo_id = hub[0]
    if not ((folder / WEIGHTS_NAME).is_file() and (folder / CONFIG_NAME).is_file()):
        raise CheckpointError(f"{folder} is not a folder of ours ({WEIGHTS_NAME} + {CONFIG_NAME}); make one with "
                              "`python -m kit.weights convert SRC DST` first.")
    info = describe(folder)
    if info.get("package_weights"):
        raise CheckpointError(f"{folder} leaves out {', '.join(info['package_weights'])} (read from an installed "
                              "package); convert it to a complete folder first.")
    card = model_card(info, repo_id)
    files = {WEIGHTS_NAME: folder / WEIGHTS_NAME, CONFIG_NAME: folder / CONFIG_NAME}
    if dry_run is not None:
        out = Path(dry_run).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        for name, path in files.items():
            shutil.copyfile(path, out / name)
        (out / CARD_NAME).write_text(card)
        return [*files, CARD_NAME]
    try:
        from huggingface_hub import CommitOperationAdd, HfApi

        api = api or HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card.encode()))
        api.create_commit(repo_id, operations=operations, commit_message=f"JointNLT weights ({info['variant']}, "
                          f"{info['dtype']}) from the JointNLT kit", repo_type="model")
    except Exception as err:  # not logged in, no rights, offline, ...
        raise CheckpointError(f"uploading to {repo_id} failed ({first_line(err)}). Log in with `hf auth login` "
                              "(a token with write access) and check the name.") from err
    return [*files, CARD_NAME]
