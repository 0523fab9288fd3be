"""Weights references as users write them: a local path, `hf://owner/repo[/file][@revision]` on the
Hugging Face Hub, or `official` (the authors' released checkpoint)."""
from __future__ import annotations

import re

OFFICIAL_SUFFIXES = (".pth", ".tar", ".pt", ".pkl")
HUB_PREFIX = "hf://"
OFFICIAL_REF = "official"  # the authors' released checkpoint (a local folder of that name: write ./official)
# What a snapshot of a whole repository fetches: our format and official files, not demo media.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.pth", "*.pth.tar", "*.pt", "*.md"]
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*$")


def parse_hub_ref(text: str) -> tuple[str, str | None, str | None] | None:
    """`owner/repo[/path/in/repo][@revision]` -> (repo_id, filename, revision); None if it is not one."""
    body, _, revision = text.partition("@")
    parts = body.strip("/").split("/")
    if len(parts) < 2 or not all(_HUB_NAME.match(part) for part in parts[:2]):
        return None
    return "/".join(parts[:2]), "/".join(parts[2:]) or None, revision or None


def looks_like_hub_repo(text: str) -> bool:
    """A bare `owner/repo[@revision]`; a name with a weights suffix is a mistyped local path instead."""
    hub = parse_hub_ref(text)
    return (hub is not None and hub[1] is None and not text.startswith((".", "/", "~"))
            and not text.partition("@")[0].endswith(OFFICIAL_SUFFIXES + (".safetensors", ".json", ".bin")))
