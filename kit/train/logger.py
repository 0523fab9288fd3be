"""What a run records: `log.csv` (training rows), `eval.csv` (evaluation rows), `draws.csv` (the sampler's
per-dataset draw counts per epoch) and TensorBoard event files under `tb/`, all in the run's out_dir. Only
rank 0 writes; the other ranks get a logger that does nothing. Rows are appended, so a resumed run
continues the same files."""
from __future__ import annotations

import csv
from pathlib import Path


class RunLogger:
    def __init__(self, out_dir: str | Path, enabled: bool = True, tensorboard: bool = True):
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self._writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ImportError("run.tensorboard=true needs the `tensorboard` package (pip install tensorboard), "
                                  "or set run.tensorboard=false") from err
            self._writer = SummaryWriter(str(self.out_dir / "tb"))

    def _append(self, name: str, row: dict) -> None:
        path = self.out_dir / name
        if path.is_file() and path.stat().st_size:
            with path.open(newline="") as f:
                fields = next(csv.reader(f))
            missing = [k for k in row if k not in fields]
            if missing:
                raise ValueError(f"{path} has no columns {missing}: write this run to another run.out_dir")
        else:
            fields = list(row)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(",".join(fields) + "\n")
        with path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=fields).writerow({k: _plain(v) for k, v in row.items()})

    def train(self, row: dict) -> None:
        """One training row; must contain 'step'. Floats are written with full precision (repr)."""
        if not self.enabled:
            return
        self._append("log.csv", row)
        if self._writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(_plain(value), float):
                    self._writer.add_scalar(f"train/{key}", _plain(value), row["step"])

    def eval(self, row: dict) -> None:
        if not self.enabled:
            return
        self._append("eval.csv", row)
        if self._writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch"):
                    self._writer.add_scalar(f"eval/{key}", _plain(value), row["step"])

    def draws(self, rows: list[dict]) -> None:
        """Per epoch and dataset: draws, used, invalid, past_last_image, errors (`draws.csv`)."""
        if not self.enabled:
            return
        for row in rows:
            self._append("draws.csv", row)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    return value
