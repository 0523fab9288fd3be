"""Benchmark evaluation from the command line: run the tracker, score result folders, reproduce the paper.

    python -m kit.evaluate run --dataset lasot|tnl2k|otb|synthetic --root DIR --weights CKPT \\
        --tracker-name NAME --results DIR [--init nl|nlbb] [--shard i/n] [--device cuda] [--precision bf16]
    python -m kit.evaluate score --dataset lasot --root DIR --results DIR [--trackers A B] [--out DIR] \\
        [--missing error|zero|skip]
    python -m kit.evaluate ground --root COCO_DIR --weights CKPT [--split val]
    python -m kit.evaluate ground --dataset synthetic --root DIR [--split grounding_test] [--wrong-sentences]
    python -m kit.evaluate baseline --dataset synthetic --root DIR --results DIR   # "box stays put"
    python -m kit.evaluate baseline --kind centre --size 37,38 --dataset synthetic --root DIR --results DIR
    python -m kit.evaluate paper-table --weights CKPT [--data-root-lasot DIR] [--data-root-tnl2k DIR] \\
        [--data-root-otb DIR] [--data-root-refcocog DIR]

`run` writes `<results>/<NAME>/<sequence>.txt` (+ `_time.txt`), skips finished sequences and can be split
over processes with `--shard i/n` (for the paper's numbers add `--sentence-mode official_test`, the
official sentence reader). `score` needs only annotation files. Exit status: 0 done; 2 bad input;
1 some sequences could not be tracked or the run stopped. Every error is one line on stderr.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from kit.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_STOPPED, THREADS_HELP, report_unexpected
from kit.config import PRECISIONS
TRACKING_BENCHMARKS = ("lasot", "tnl2k", "otb", "synthetic")
TITLES = {"lasot": "LaSOT", "tnl2k": "TNL2K", "otb": "OTB99-lang", "synthetic": "Synthetic"}

# The paper's numbers (AUC, P in %) and its RefCOCOg val Acc@0.5, for `paper-table`.
PAPER = {("tnl2k", "nl"): (54.6, 55.0), ("lasot", "nl"): (56.9, 59.3), ("otb", "nl"): (59.2, 77.6),
         ("tnl2k", "nlbb"): (56.9, 58.1), ("lasot", "nlbb"): (60.4, 63.6), ("otb", "nlbb"): (65.3, 85.6)}
PAPER_REFCOCOG_ACC50 = 70.07
INIT_TITLES = {"nl": "NL", "nlbb": "NL+BB"}


class InputError(Exception):
    """Bad input found before anything was run."""


# --- arguments -------------------------------------------------------------------------------------------

def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="official .pth.tar, a folder of ours, or hf://owner/repo (default: "
                   "$JOINTNLT_WEIGHTS, else the bundled JointNLT-Lite)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="int8: CPU, int8 vision encoder (the fast paper-model mode without bf16 hardware)")
    p.add_argument("--accelerate", default="none",
                   help="none (default) or compile: torch.compile the vision encoder (fp32/bf16/fp16; boxes within "
                        "1e-4 of eager; the first frame compiles for minutes on a small CPU; docs/speed.md)")
    p.add_argument("--threads", help=THREADS_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _benchmark_args(p: argparse.ArgumentParser, split_help: str = "lasot/otb/synthetic: test (default)") -> None:
    """Which tracking benchmark and where its results go (run, score, baseline)."""
    p.add_argument("--dataset", required=True, choices=TRACKING_BENCHMARKS)
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--split", help=split_help)
    p.add_argument("--results", required=True, type=Path)


def parse_args(argv=None) -> argparse.Namespace:
    from kit.evaluation.runner import FRAME0, INITS

    p = argparse.ArgumentParser(prog="python -m kit.evaluate", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="track every sequence of a benchmark, writing result files")
    _benchmark_args(run, "lasot/otb/synthetic: test (default), train, ...; TNL2K has none")
    run.add_argument("--tracker-name", required=True, help="the results sub-folder, e.g. jointnlt-nl")
    run.add_argument("--init", default="nl", choices=INITS, help="nl: sentence only; nlbb: sentence + GT box")
    run.add_argument("--frame0", default="gt", choices=FRAME0, help="row 0 of a result file (official: gt)")
    run.add_argument("--shard", default="0/1", help="i/n: sequences i, i+n, ... (n processes in parallel)")
    run.add_argument("--max-sequences", type=int, help="only the first N sequences (before sharding)")
    run.add_argument("--sentence-mode", default="clean", choices=["clean", "official_test"],
                     help="how sentence files are read; official_test = the official quirk (paper numbers)")
    run.add_argument("--reground-below", type=float, help="re-ground when the score stays below this")
    run.add_argument("--paper-tracker", action="store_true",
                     help="the paper's tracker: ignore the tracker settings the model recommends (the bundled "
                          "Lite's real-footage checks)")
    _model_args(run)

    score = sub.add_parser("score", help="score result folders (annotation files only)")
    _benchmark_args(score)
    score.add_argument("--trackers", nargs="+", help="tracker folders to score (default: all)")
    score.add_argument("--out", type=Path, help="report folder (default: <results>-report, beside the results "
                       "folder, never inside it)")
    score.add_argument("--attributes-dir", type=Path,
                       help="the LaSOT/TNL2K toolkit's annos/att (default: att/ files in the dataset)")
    score.add_argument("--missing", default="error", choices=["error", "zero", "skip"],
                       help="a missing or unusable result file: error (default, as the toolkits: stop and say "
                       "which); zero: score it as an all-zero file; skip: leave the sequence out for every tracker")

    ground = sub.add_parser("ground", help="grounding accuracy on RefCOCOg or the synthetic grounding images")
    ground.add_argument("--dataset", default="refcocog", choices=["refcocog", "synthetic"])
    ground.add_argument("--root", required=True, type=Path,
                        help="the COCO folder (refcocog/, images/), or the synthetic benchmark")
    ground.add_argument("--split", help="refcocog: val (default); synthetic: grounding_test (default)")
    ground.add_argument("--split-by", default="google")
    ground.add_argument("--protocol", nargs="+", default=["one_per_ref", "per_expression"],
                        choices=["one_per_ref", "per_expression"])
    ground.add_argument("--out", type=Path, help="folder for grounding.md / grounding_records.csv")
    ground.add_argument("--wrong-sentences", action="store_true",
                        help="control: each image gets the next image's sentences (a model that ignores the words "
                             "scores the same with and without)")
    _model_args(ground)

    baseline = sub.add_parser("baseline", help='write a trivial tracker\'s results: "the box stays where it '
                              'started" (static) or "a box of the usual size in the middle" (centre)')
    _benchmark_args(baseline)
    baseline.add_argument("--kind", default="static", choices=["static", "centre"])
    baseline.add_argument("--size", help="centre: the box's w,h in pixels, e.g. the training set's mean target size")
    baseline.add_argument("--tracker-name", help="default: static-box / centre-prior")

    paper = sub.add_parser(
        "paper-table", help="run and score every benchmark given; print beside the paper",
        description="Runs NL and NL+BB on each benchmark whose root is given (official protocol, official "
        "sentence reader) into <results>/<benchmark>/jointnlt-{nl,nlbb}, resuming what is there (so shards "
        "run before with `run --sentence-mode official_test` under those names are reused), scores them, "
        "evaluates grounding on RefCOCOg val, and prints the numbers beside the paper's; the table is also "
        "written to <results>/paper_table.md with the command and the machine.")
    for name in ("lasot", "tnl2k", "otb", "refcocog"):
        paper.add_argument(f"--data-root-{name}", type=Path)
    paper.add_argument("--results", type=Path, default=Path("results/paper"))
    paper.add_argument("--inits", nargs="+", default=list(INITS), choices=INITS)
    _model_args(paper)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.command_line = "python -m kit.evaluate " + shlex.join(map(str, sys.argv[1:] if argv is None else argv))
    from kit.weights.checkpoint import CheckpointError
    from kit.data import DatasetFormatError
    from kit.evaluation.results import ResultFileError

    try:
        return COMMANDS[args.command](args)
    except (InputError, DatasetFormatError, ResultFileError, CheckpointError, FileNotFoundError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted; finished sequences are kept and a new run resumes", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as err:
        return report_unexpected(err)


# --- run -------------------------------------------------------------------------------------------------

def _tracker(args, reground_below: float | None = None):
    from kit.runtime import configure_threads
    from kit.tracking.session import load_tracker

    configure_threads(getattr(args, "threads", None))
    return load_tracker(args.weights, args.device, args.precision, accelerate=getattr(args, "accelerate", "none"),
                        reground_below=reground_below, model_settings=not getattr(args, "paper_tracker", False))


def _machine(device) -> str:
    import torch

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPU cores"
    return f"{platform.platform()}, {gpu}, torch {torch.__version__}"


def _protocol(dataset: str, split: str | None, init: str, frame0: str, sentence_mode: str) -> dict:
    """The settings that decide what a results folder holds (resuming with others would mix results)."""
    from kit.evaluation.scoring import DEFAULT_SPLITS

    split = split or DEFAULT_SPLITS[dataset]
    return {"dataset": dataset, "split": split, "init": init, "frame0": frame0, "sentence_mode": sentence_mode}


def _check_same_protocol(protocol: dict, folder: Path) -> None:
    path = folder / "_run.json"
    before = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    changed = [k for k, v in protocol.items() if k in before and before[k] != v]
    if changed:
        was = ", ".join(f"{k} {before[k]}" for k in changed)
        raise InputError(f"{folder} holds results made with {was}; give another tracker name or results folder "
                         "to run with different settings")


def _write_run_info(args, protocol: dict, device, folder: Path) -> None:
    """What produced a results folder: the protocol, the command, the weights, the machine."""
    info = {**protocol, "command": args.command_line, "weights": str(args.weights), "precision": args.precision,
            "reground_below": getattr(args, "reground_below", None),
            "paper_tracker": getattr(args, "paper_tracker", False), "machine": _machine(device),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_run.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def cmd_run(args) -> int:
    from kit.evaluation.runner import parse_shard, run_benchmark
    from kit.evaluation.scoring import open_benchmark

    shard = parse_shard(args.shard)
    dataset = open_benchmark(args.dataset, args.root, args.split, args.sentence_mode)
    folder = args.results / args.tracker_name
    protocol = _protocol(args.dataset, args.split, args.init, args.frame0, args.sentence_mode)
    _check_same_protocol(protocol, folder)
    tracker = _tracker(args, args.reground_below)
    _write_run_info(args, protocol, tracker.device, folder)
    summary = run_benchmark(tracker, dataset, args.results, args.tracker_name, args.init, args.frame0, shard,
                            args.max_sequences, progress=not args.quiet,
                            log=lambda line: print(line, file=sys.stderr))
    fps = f", {summary.fps:.1f} frames/s" if summary.fps else ""
    print(f"{args.tracker_name}: tracked {len(summary.tracked)}, already done {len(summary.skipped)}, "
          f"failed {len(summary.failed)} sequences{fps}; results in {args.results / args.tracker_name}",
          file=sys.stderr)
    return EXIT_STOPPED if summary.failed else EXIT_OK


# --- score -----------------------------------------------------------------------------------------------

def default_report_dir(results: Path) -> Path:
    """`<results>-report` beside the results folder: a report never lands among the raw results it scores."""
    results = results.resolve()
    return results.with_name(results.name + "-report")


def score_and_report(dataset: str, root: Path, split: str | None, results: Path, trackers: list[str] | None,
                     out: Path, missing: str = "error", attributes_dir: Path | None = None):
    """Score the trackers' folders and write the report; returns the scores."""
    from kit.evaluation.report import write_report
    from kit.evaluation.results import list_trackers
    from kit.evaluation.scoring import load_ground_truth, score_trackers, skipped_sequences

    trackers = trackers or list_trackers(results)
    sequences = load_ground_truth(dataset, root, split, attributes_dir)
    scores = score_trackers(results, trackers, sequences, missing)
    write_report(scores, sequences, out, TITLES[dataset], skipped_sequences(scores, sequences))
    return scores


def cmd_score(args) -> int:
    from kit.evaluation.report import markdown_table, missing_note, summary_rows

    out = args.out or default_report_dir(args.results)
    scores = score_and_report(args.dataset, args.root, args.split, args.results, args.trackers, out, args.missing,
                              args.attributes_dir)
    print(markdown_table(summary_rows(scores)), end="")
    print(missing_note(scores), end="")
    lacking = [f"{s.tracker} {len(s.lacking)}" for s in scores if s.lacking]
    if lacking:
        print(f"note: sequences without usable results ({', '.join(lacking)}), {args.missing} mode; each is named "
              f"in {out / 'report.md'}", file=sys.stderr)
    print(f"report, tables and plots in {out}", file=sys.stderr)
    return EXIT_OK


# --- grounding -------------------------------------------------------------------------------------------

def synthetic_refs(root: Path, split: str):
    """The synthetic grounding images as referring expressions (one sentence each)."""
    from kit.data import ReferredObject, load_dataset

    data = load_dataset("synthetic", root, split=split)
    return [ReferredObject(i, seq.frames[0], seq.boxes[0], [seq.sentence], split)
            for i, seq in enumerate(data[name] for name in data.names)]


def with_next_sentences(refs: list) -> list:
    """The language control of `ground --wrong-sentences`: ref i keeps its image and box but gets the sentences
    of ref i+1 (the last gets the first's)."""
    return [dataclasses.replace(r, sentences=refs[(i + 1) % len(refs)].sentences) for i, r in enumerate(refs)]


def run_grounding(args, root: Path, split: str, split_by: str, protocols, out: Path | None, model=None, device=None,
               dataset: str = "refcocog"):
    from kit.data import RefCOCOg
    from kit.evaluation.grounding import evaluate_grounding, grounding_rows
    from kit.evaluation.report import csv_text, markdown_table
    from kit.runtime import configure_threads
    from kit.tracking.session import load_model_for

    if dataset == "synthetic":
        data = synthetic_refs(root, split or "grounding_test")
    else:
        data = RefCOCOg(root, split=split or "val", split_by=split_by)
    if getattr(args, "wrong_sentences", False):
        data = with_next_sentences(list(data))
    if model is None:
        configure_threads(getattr(args, "threads", None))
        model, device, _ = load_model_for(args.weights, args.device, args.precision,
                                          accelerate=getattr(args, "accelerate", "none"))
    results, records = evaluate_grounding(model, data, protocols, device, args.precision, progress=not args.quiet)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "grounding.md").write_text(markdown_table(grounding_rows(results)), encoding="utf-8")
        (out / "grounding_records.csv").write_text(csv_text([r._asdict() for r in records]), encoding="utf-8")
    return results


def cmd_ground(args) -> int:
    from kit.evaluation.grounding import grounding_rows
    from kit.evaluation.report import markdown_table

    protocols = ["one_per_ref"] if args.dataset == "synthetic" else args.protocol  # one sentence per image
    results = run_grounding(args, args.root, args.split, args.split_by, protocols, args.out, dataset=args.dataset)
    print(markdown_table(grounding_rows(results)), end="")
    return EXIT_OK


# --- baseline --------------------------------------------------------------------------------------------

def cmd_baseline(args) -> int:
    from kit.evaluation.runner import centre_box_baseline, static_box_baseline
    from kit.evaluation.scoring import open_benchmark

    if args.kind == "centre":
        try:
            size = tuple(float(v) for v in (args.size or "").split(","))
        except ValueError:
            size = ()
        if len(size) != 2 or min(size) <= 0:
            raise InputError(f"--kind centre needs --size W,H (two positive numbers), got {args.size!r}")
    dataset = open_benchmark(args.dataset, args.root, args.split)
    name = args.tracker_name or ("centre-prior" if args.kind == "centre" else "static-box")
    if args.kind == "centre":
        n = centre_box_baseline(dataset, args.results, size, name)
    else:
        n = static_box_baseline(dataset, args.results, name)
    print(f"{name}: {n} result files in {args.results / name}", file=sys.stderr)
    return EXIT_OK


# --- paper table -----------------------------------------------------------------------------------------

def cmd_paper_table(args) -> int:
    """Run (resuming) and score each benchmark whose root is given, then print ours beside the paper's."""
    from kit.evaluation.report import markdown_table
    from kit.evaluation.runner import run_benchmark
    from kit.evaluation.scoring import open_benchmark

    given = {n: getattr(args, f"data_root_{n}") for n in ("tnl2k", "lasot", "otb", "refcocog")}
    if not any(given.values()):
        raise InputError("no benchmark given: pass --data-root-lasot, --data-root-tnl2k, --data-root-otb "
                         "and/or --data-root-refcocog")
    tracker = _tracker(args)
    rows, failed = [], 0
    for name, root in given.items():
        if root is None:
            print(f"note: {TITLES.get(name, 'RefCOCOg')} skipped (no --data-root-{name})", file=sys.stderr)
        elif name == "refcocog":
            results = run_grounding(args, root, "val", "google", ["one_per_ref", "per_expression"],
                                 args.results / "refcocog", tracker.model, tracker.device)
            rows += _grounding_rows(results)
        else:
            # The official test-time sentence reader: the paper's numbers were measured with it
            # (docs/official-code.md, quirk 10).
            dataset = open_benchmark(name, root, sentence_mode="official_test")
            names = {init: f"jointnlt-{init}" for init in args.inits}
            for init, tracker_name in names.items():
                protocol = _protocol(name, None, init, "gt", "official_test")
                _check_same_protocol(protocol, args.results / name / tracker_name)
                _write_run_info(args, protocol, tracker.device, args.results / name / tracker_name)
                summary = run_benchmark(tracker, dataset, args.results / name, tracker_name, init,
                                        progress=not args.quiet, log=lambda line: print(line, file=sys.stderr))
                failed += len(summary.failed)
            # Sequences that could not be tracked are counted in the table and scored as all-zero files.
            scores = score_and_report(name, root, None, args.results / name, list(names.values()),
                                      args.results / f"{name}-report", missing="zero")
            rows += [_tracking_row(name, init, s) for init, s in zip(names, scores)]
    table = markdown_table(rows)
    print(table, end="")
    _write_paper_table(args, table, tracker.device)
    return EXIT_STOPPED if failed else EXIT_OK


def _tracking_row(name: str, init: str, score) -> dict:
    paper_auc, paper_p = PAPER[(name, init)]
    return {"Benchmark": TITLES[name], "Init": INIT_TITLES[init], "Ours": f"{score.overall.auc:.2f} / "
            f"{score.overall.precision:.2f}", "Paper": f"{paper_auc:.1f} / {paper_p:.1f}", "Measure": "AUC / P",
            "Failed sequences": len(score.lacking)}


def _grounding_rows(results) -> list[dict]:
    """The paper's protocol (one sample per ref), and the usual per-expression one, which it did not report."""
    return [{"Benchmark": "RefCOCOg val", "Init": "grounding", "Ours": f"{results[protocol].acc_50:.2f}",
             "Paper": paper, "Measure": f"Acc@0.5 ({what})", "Failed sequences": "-"}
            for protocol, paper, what in (("one_per_ref", f"{PAPER_REFCOCOG_ACC50:.2f}", "one sample per ref"),
                                          ("per_expression", "-", "per expression"))]


def _write_paper_table(args, table: str, device) -> None:
    path = args.results / "paper_table.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# JointNLT: our evaluation beside the paper\n\n{table}\n"
                    f"Command: `{args.command_line}`\n\n"
                    f"Machine: {_machine(device)}; {time.strftime('%Y-%m-%d %H:%M')}\n", encoding="utf-8")
    print(f"written to {path}", file=sys.stderr)


COMMANDS = {"run": cmd_run, "score": cmd_score, "ground": cmd_ground, "baseline": cmd_baseline,
            "paper-table": cmd_paper_table}

if __name__ == "__main__":
    sys.exit(main())
