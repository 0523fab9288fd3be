"""The state of a training run between steps, in one object: where it is (epoch, batch, step), what it has
logged, evaluated and saved, how the samples were drawn this epoch, and whether it must stop. `main.py`
creates one and hands its `on_step` to `engine.train_one_epoch`."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kit.train.config import TrainConfig
from kit.train.distributed import DistInfo, all_mean, any_true, barrier, gather_objects, sum_over_processes
from kit.train.sampling import DRAW_COUNTS, check_draws, format_draws
from kit.train.state import capture_rng, prune_checkpoints, save_checkpoint


class RunProgress:
    """`position` is the dict a checkpoint stores ({"epoch", "batch", "step"}: the next epoch and batch).
    Every rank keeps one; only rank 0 writes logs and checkpoints."""

    def __init__(self, cfg: TrainConfig, info: DistInfo, parts: dict, position: dict, iterations: int,
                 checkpoints: Path, config_dict: dict):
        self.cfg, self.info, self.parts, self.position = cfg, info, parts, position
        self.iterations, self.checkpoints, self.config_dict = iterations, checkpoints, config_dict
        self.sources = parts["sampler"].sources
        self.draws = np.zeros((len(self.sources), len(DRAW_COUNTS)), dtype=np.int64)  # this epoch, all processes
        self.pending_draws = np.zeros_like(self.draws)                                 # not summed over ranks yet
        self.start_time = self.last_time = time.monotonic()
        self.last_row: dict = {}
        self.last_eval: dict = {}
        self.last_saved: int | None = None
        self.last_log_step = position["step"]
        self.stop = False

    @property
    def epoch_finished(self) -> bool:
        return self.position["batch"] >= self.iterations

    def start_epoch(self, epoch: int, batch: int) -> None:
        self.position.update(epoch=epoch, batch=batch)
        self.draws[:] = 0
        self.pending_draws = np.zeros_like(self.draws)

    def on_step(self, stats: dict) -> bool:
        """After each optimiser step: count it, log every `run.log_every` steps (and at the epoch's end), save
        every `run.checkpoint_every_steps`; returns True when the run must stop (time or step budget)."""
        run, position = self.cfg.run, self.position
        position["batch"] += 1
        position["step"] += 1
        step = position["step"]
        self.pending_draws += stats.pop("draw_counts").numpy() if "draw_counts" in stats else 0
        if step % run.log_every == 0 or position["batch"] == self.iterations:
            self._log_row(stats)
        if run.max_minutes > 0:
            self.stop |= any_true(time.monotonic() - self.start_time > 60 * run.max_minutes, self.info)
        if run.max_steps > 0 and step >= run.max_steps:
            self.stop = True
        if run.checkpoint_every_steps > 0 and step % run.checkpoint_every_steps == 0 and not self.epoch_finished:
            self.save()
        return self.stop

    def _log_row(self, stats: dict) -> None:
        optim, info = self.cfg.optim, self.info
        self.draws[:] += sum_over_processes(self.pending_draws, info)
        self.pending_draws = np.zeros_like(self.draws)
        check_draws(self.draws, self.sources, self.parts["sampler"].probs, self.cfg.data.max_error_rate)
        now, step = time.monotonic(), self.position["step"]
        row = {"step": step, "epoch": self.position["epoch"], **all_mean(stats, info)}
        row.update({f"lr_{g['name']}": g["lr"] for g in self.parts["optimizer"].param_groups})
        samples = (step - self.last_log_step) * optim.batch_size * info.world_size
        row["samples_per_s"] = samples / max(now - self.last_time, 1e-9)
        row["elapsed_s"] = now - self.start_time
        self.parts["logger"].train(row)
        self.last_row, self.last_time, self.last_log_step = row, now, step

    def log_draws(self, epoch: int, say) -> None:
        say(f"epoch {epoch} draws: {format_draws(self.draws, self.sources)}")
        self.parts["logger"].draws([{"epoch": epoch, "dataset": src.spec, **dict(zip(DRAW_COUNTS, map(int, row)))}
                                    for src, row in zip(self.sources, self.draws)])

    def log_eval(self, epoch: int, metrics: dict) -> None:
        self.last_eval = {"step": self.position["step"], "epoch": epoch, **metrics}
        self.parts["logger"].eval(self.last_eval)

    def save(self) -> int:
        """Every rank calls it (the RNG states are gathered, so that a resume is exact); rank 0 writes."""
        p = self.parts
        rng_states = gather_objects(capture_rng(), self.info)
        if self.info.is_main:
            save_checkpoint(self.checkpoints / f"step{self.position['step']:08d}", p["model"], p["optimizer"],
                            p["scheduler"], p["scaler"], self.position, rng_states, self.config_dict)
            prune_checkpoints(self.checkpoints, self.cfg.run.keep_checkpoints)
        barrier(self.info)
        self.last_saved = self.position["step"]
        return self.last_saved

    def summary(self, out_dir: Path) -> dict:
        return {"out_dir": str(out_dir), "step": self.position["step"], "epoch": self.position["epoch"],
                "train": self.last_row, "eval": self.last_eval,
                "checkpoint": str(self.checkpoints / f"step{self.last_saved:08d}"), "rank": self.info.rank}
