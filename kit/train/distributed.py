"""Process groups for `torchrun`: one process per GPU (NCCL) or per CPU worker (gloo), `env://` rendezvous.

`torchrun --nproc_per_node N [--nnodes M --node_rank R --master_addr HOST --master_port PORT] -m kit.train`
sets RANK, WORLD_SIZE and LOCAL_RANK; without them training runs in one process, no process group.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import torch
import torch.distributed as dist

from kit.runtime import resolve_device


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (if any) and pick this process's device: cuda:LOCAL_RANK
    with NCCL when CUDA is used, the CPU with gloo otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(0, 1, 0, resolve_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = resolve_device(device).type == "cuda"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://")
    return DistInfo(rank, world_size, local_rank, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_mean(values: dict[str, torch.Tensor | float], info: DistInfo) -> dict[str, float]:
    """The mean of each scalar over all processes (one all-reduce)."""
    keys = sorted(values)
    flat = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                        device=info.device if info.device.type == "cuda" else "cpu")
    if info.distributed:
        dist.all_reduce(flat)
        flat /= info.world_size
    return dict(zip(keys, flat.tolist()))


def any_true(flag: bool, info: DistInfo) -> bool:
    """True on every process if it is True on any (e.g. a time budget seen by rank 0)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj, info: DistInfo) -> list:
    """Every process's `obj`, in rank order, on every process."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def sum_over_processes(counts: np.ndarray, info: DistInfo) -> np.ndarray:
    """Element-wise sum of an integer array over all processes (one all-reduce)."""
    if not info.distributed:
        return counts
    t = torch.from_numpy(np.ascontiguousarray(counts, dtype=np.int64))
    t = t.to(info.device) if info.device.type == "cuda" else t
    dist.all_reduce(t)
    return t.cpu().numpy()
