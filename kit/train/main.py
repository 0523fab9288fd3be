"""`python -m kit.train --preset NAME key=value ...`: argument parsing and the wiring of a training run.

    python -m kit.train --preset synthetic_cpu run.out_dir=runs/syn data.roots.synthetic=data/synthetic
    torchrun --nproc_per_node 4 -m kit.train --preset paper run.out_dir=runs/paper
    python -m kit.train --config runs/syn/train_config.json run.resume=auto      # continue a run

`train(cfg)` is the same run from Python. Each run writes into run.out_dir: train_config.json (the resolved
config), log.csv / eval.csv / tb/ (kit.train.logger), checkpoints/step*/ (kit.train.state).
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from kit.train.actor import JointActor
from kit.train.config import PRESETS, TrainConfig, get_train_preset, model_config, parse_overrides, validate
from kit.train.distributed import DistInfo, barrier, cleanup, init_distributed
from kit.train.engine import evaluate, train_one_epoch
from kit.train.logger import RunLogger
from kit.train.progress import RunProgress
from kit.train.optim import build_optimizer, build_scaler, build_scheduler
from kit.train.processing import Processing, collate
from kit.train.sampling import (RunBatches, SamplingError, Source, TrainingSampler, ValidationSet, VirtualEpoch,
                                iterations_per_epoch, probe_sources, validation_samples)
from kit.train.state import TRAIN_CONFIG_NAME, latest_checkpoint, load_checkpoint, restore_rng

BERT_VOCAB_SIZE = 30522  # the sentences are tokenised with bert-base-uncased's vocabulary (kit.text)


def build_training_model(cfg: TrainConfig):
    """The network to train. `model.pretrained=true`: encoders from the sources the model config names
    (`kit.weights.pretrained.build_pretrained_model`: offline packages, local files, or timm / the Hub, which
    download), the rest random; otherwise every weight is random (the official initialisation).
    `model.init_from` = every weight from a saved model (`kit.weights.loading.load_model`, strict)."""
    mcfg = model_config(cfg.model)
    vocab = mcfg.language.hf_config.get("vocab_size", 0)
    if vocab < BERT_VOCAB_SIZE:
        raise ValueError(f"model preset {cfg.model.preset!r} has a text vocabulary of {vocab} tokens, but training "
                         f"sentences are tokenised with bert-base-uncased ({BERT_VOCAB_SIZE}); choose another preset")
    if cfg.model.init_from:
        from kit.weights.loading import load_model
        from kit.train.export import checkpoint_dir
        source = Path(cfg.model.init_from)
        if (source / "checkpoints").is_dir():  # a run's out_dir: its latest checkpoint, as export takes it
            source = checkpoint_dir(source)
        model = load_model(source, config=mcfg).train()  # strict: this run's architecture
        if cfg.model.reset_vision:
            from kit.weights.pretrained import load_vision_weights
            if mcfg.vision.pretrained is None:
                raise ValueError("model.reset_vision=true needs a config that names pretrained vision weights")
            load_vision_weights(model.visual_backbone, mcfg.vision.pretrained)
        return model
    if cfg.model.pretrained:
        try:
            from kit.weights.pretrained import build_pretrained_model
        except ImportError as err:
            raise RuntimeError("model.pretrained=true needs kit.weights.pretrained.build_pretrained_model, which this "
                               f"installation does not have ({err}); use model.pretrained=false") from err
        model = build_pretrained_model(mcfg)
    else:
        from kit.model import build_model
        model = build_model(mcfg)
    return model


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _worker_init(_worker_id: int) -> None:
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _loader(dataset, batch_sampler, workers: int, device: torch.device) -> DataLoader:
    """Workers are spawned, not forked: OpenCV's thread pool, once used in this process (template crops),
    deadlocks in forked children. An explicit generator keeps the iterator from drawing on the global torch
    RNG (exact resume)."""
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=workers, collate_fn=collate,
                      worker_init_fn=_worker_init if workers else None, pin_memory=device.type == "cuda",
                      multiprocessing_context="spawn" if workers else None, generator=torch.Generator().manual_seed(0))


class _Take:
    """The next `n` batches of a shared iterator, with a length (for the progress bar)."""

    def __init__(self, iterator, n: int):
        self.iterator, self.n = iterator, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return itertools.islice(self.iterator, self.n)


def _resume_dir(run, checkpoints: Path) -> Path | None:
    if not run.resume:
        return None
    if run.resume == "auto":
        return latest_checkpoint(checkpoints)
    path = Path(run.resume)
    if path.is_dir() and not (path / "training_state.pt").is_file():  # a run's out_dir or checkpoints dir
        path = latest_checkpoint(path / "checkpoints") or latest_checkpoint(path) or path
    return path


def train(cfg: TrainConfig, evaluate_fn: Callable | None = None) -> dict:
    """Run (or resume) training as configured; returns a summary (steps, last rows, checkpoint).

    Evaluation runs on rank 0 every run.eval_every epochs: the built-in one (grounding / one-step tracking
    IoU on run.eval_dataset, see `engine.evaluate`) and/or `evaluate_fn(model, device, epoch) -> {name:
    number}` (e.g. a tracker benchmark); both go to eval.csv and TensorBoard."""
    validate(cfg)
    info = init_distributed(cfg.run.device)
    try:
        return _train(cfg, info, evaluate_fn)
    finally:
        cleanup()


def _train(cfg: TrainConfig, info: DistInfo, evaluate_fn: Callable | None = None) -> dict:
    run, optim = cfg.run, cfg.optim
    out_dir = Path(run.out_dir)
    checkpoints = out_dir / "checkpoints"
    device = info.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    _seed(run.seed + info.rank)  # model randomness differs per rank (official: 42 + rank); data does not

    model = build_training_model(cfg).to(device)
    processing = Processing(model.config, cfg.data)
    actor = JointActor(model, processing, cfg.loss, cfg.data.num_search)
    optimizer = build_optimizer(model, optim)
    scheduler = build_scheduler(optimizer, optim)
    scaler = build_scaler(optim.precision, device)

    position, rng_state = {"epoch": 1, "batch": 0, "step": 0}, None
    resume = _resume_dir(run, checkpoints)
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer, scheduler, scaler)
        position = state["position"]
        if len(state["rng"]) == info.world_size:
            rng_state = state["rng"][info.rank]
        elif info.is_main:
            print(f"note: {resume} was written by {len(state['rng'])} processes, this run has {info.world_size}: "
                  "random states start afresh (the data order is unchanged)")
    config_dict = cfg.to_dict()
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / TRAIN_CONFIG_NAME).write_text(json.dumps(config_dict, indent=2) + "\n")
    logger = RunLogger(out_dir, enabled=info.is_main, tensorboard=run.tensorboard)

    step_module = actor
    if info.distributed:
        with warnings.catch_warnings():  # torch suggests keeping broadcast_buffers=False for rank-local buffers
            warnings.simplefilter("ignore", FutureWarning)
            # BatchNorm statistics stay per process, as official (broadcast_buffers=False, no SyncBN).
            step_module = torch.nn.parallel.DistributedDataParallel(
                actor, device_ids=[info.local_rank] if device.type == "cuda" else None,
                find_unused_parameters=run.find_unused_parameters, broadcast_buffers=False)

    sampler = TrainingSampler.from_config(cfg.data)
    say = (lambda line: print(line, flush=True)) if info.is_main else (lambda line: None)
    if cfg.data.probe_draws > 0:
        probe_sources(sampler, processing, run.seed, cfg.data.probe_draws, cfg.data.max_error_rate, log=say)
    dataset = VirtualEpoch(sampler, processing, run.seed, cfg.data.max_attempts)
    iters = iterations_per_epoch(optim.samples_per_epoch, optim.batch_size, info.world_size)
    if iters < 1:
        raise ValueError(f"optim.samples_per_epoch={optim.samples_per_epoch} gives no full batch of "
                         f"{optim.batch_size} per process ({info.world_size} processes)")
    eval_loader = None
    if run.eval_dataset and run.eval_every > 0 and info.is_main:
        source = Source(run.eval_dataset, cfg.data.roots, cfg.data.sentence_mode)
        items = validation_samples(source, run.eval_samples, cfg.data.num_search)
        eval_loader = DataLoader(ValidationSet(items, processing), batch_size=optim.batch_size, collate_fn=collate)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler, "logger": logger,
             "sampler": sampler}
    progress = RunProgress(cfg, info, parts, position, iters, checkpoints, config_dict)

    if rng_state is not None:
        restore_rng(rng_state)
    plan = RunBatches(optim.samples_per_epoch, optim.batch_size, position["epoch"], optim.epochs, info.rank,
                      info.world_size, start=position["batch"])
    batch_iterator = iter(_loader(dataset, plan, run.workers, device))
    for batches in plan.epochs:
        epoch = batches.epoch
        progress.start_epoch(epoch, batches.start)
        train_one_epoch(step_module, _Take(batch_iterator, len(batches)), optimizer, device=device,
                        precision=optim.precision, scaler=scaler, grad_clip_norm=optim.grad_clip_norm,
                        official_amp_skips_clipping=optim.official_amp_skips_clipping, on_step=progress.on_step,
                        progress=run.progress and info.is_main, description=f"epoch {epoch}/{optim.epochs}")
        if not progress.epoch_finished:  # stopped inside the epoch
            break
        progress.log_draws(epoch, say)
        scheduler.step()
        position.update(epoch=epoch + 1, batch=0)
        if info.is_main and run.eval_every > 0 and (epoch % run.eval_every == 0 or epoch == optim.epochs):
            metrics = {}
            if eval_loader is not None:
                metrics.update(evaluate(actor, eval_loader, device=device, precision=optim.precision))
            if evaluate_fn is not None:
                metrics.update(evaluate_fn(model, device, epoch))
                model.train()
            if metrics:
                progress.log_eval(epoch, metrics)
        barrier(info)
        if epoch % max(run.checkpoint_every, 1) == 0 or epoch == optim.epochs or progress.stop:
            progress.save()
        if progress.stop:
            break
    del batch_iterator  # stops the workers
    if progress.last_saved != position["step"]:
        progress.save()
    logger.close()
    return progress.summary(out_dir)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(
        prog="python -m kit.train", description="Train JointNLT (grounding + tracking). Overrides are key=value "
        "pairs on the preset, e.g. optim.lr_head=1e-3 data.roots.synthetic=data/synthetic run.out_dir=runs/x.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="a named training config")
    parser.add_argument("--config", type=Path, default=None, help="a train_config.json written by an earlier run")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    if (args.preset is None) == (args.config is None):
        parser.error("give exactly one of --preset NAME or --config FILE")
    try:
        cfg = (get_train_preset(args.preset) if args.preset else
               TrainConfig.from_dict(json.loads(args.config.read_text())))
        cfg = parse_overrides(args.overrides, cfg)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        sys.exit(0)
    return cfg


def _one_line(err: Exception) -> str:
    # An error raised in a DataLoader worker comes back with the worker's traceback in its message: keep the
    # original message, the last line.
    last = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return last.split(f"{type(err).__name__}: ", 1)[-1]


def main(argv: list[str] | None = None) -> dict:
    cfg = parse_args(argv)
    try:
        summary = train(cfg)
    except SamplingError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"[rank {summary['rank']}] done: {summary['step']} steps, next epoch {summary['epoch']}, "
          f"checkpoint {summary['checkpoint']}", flush=True)
    return summary
