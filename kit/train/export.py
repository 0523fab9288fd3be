"""Turn a training checkpoint into a model folder for `kit.weights.loading.load_model` (the weights only):

    python -m kit.train.export runs/lite assets/jointnlt-lite

RUN is a run's out_dir (its latest checkpoint is taken) or one checkpoint folder. Encoders that a package
provides and training left unchanged (a frozen MiniLM) are left out of the file (`save_pretrained`'s
`exclude_package_weights`); `load_model` reads them from the package again.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kit.weights.checkpoint import CheckpointError, load_pretrained, save_pretrained, unchanged_package_modules
from kit.cli import EXIT_BAD_INPUT, EXIT_OK
from kit.train.state import latest_checkpoint


def checkpoint_dir(run: Path) -> Path:
    if (run / "model.safetensors").is_file():
        return run
    latest = latest_checkpoint(run / "checkpoints") if (run / "checkpoints").is_dir() else None
    if latest is None:
        raise CheckpointError(f"{run} is neither a checkpoint folder nor a run folder with checkpoints/")
    return latest


def export(run: str | Path, out: str | Path) -> tuple[Path, list[str]]:
    """Write the model of `run` into `out`; returns (the checkpoint used, the modules left out)."""
    source = checkpoint_dir(Path(run))
    model = load_pretrained(source)
    left_out = unchanged_package_modules(model)
    save_pretrained(model, out, exclude_package_weights=tuple(left_out))
    return source, left_out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kit.train.export", description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run's out_dir or a checkpoint folder")
    p.add_argument("out", type=Path, help="the model folder to write")
    args = p.parse_args(argv)
    try:
        source, left_out = export(args.run, args.out)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    size = (args.out / "model.safetensors").stat().st_size / 2**20
    print(f"{source} -> {args.out} ({size:.1f} MiB; from packages: {', '.join(left_out) or 'none'})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
