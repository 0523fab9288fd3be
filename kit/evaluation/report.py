"""Benchmark reports from scored trackers: the summary table (Markdown and CSV), per-sequence and
per-attribute tables, speed, and the success / precision plots in the toolkits' style (PNG and PDF).

Plots are drawn on a bare matplotlib `Figure` with the Agg canvas: no pyplot, no display, no global
backend switch, so a report can be written on a headless server or from a notebook alike.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from kit.data import Sequence
from kit.data.lasot import LASOT_ATTRIBUTES
from kit.data.tnl2k import TNL2K_ATTRIBUTES
from kit.evaluation.metrics import IOU_THRESHOLDS, NORM_THRESHOLDS, PIXEL_THRESHOLDS, Curves
from kit.evaluation.scoring import TrackerScore

ATTRIBUTE_NAMES = {"lasot": LASOT_ATTRIBUTES, "synthetic": LASOT_ATTRIBUTES, "tnl2k": TNL2K_ATTRIBUTES}
PLOT_FORMATS = ("png", "pdf")


# --- tables ----------------------------------------------------------------------------------------------

def _scores(curves: Curves | None) -> dict[str, float | None]:
    if curves is None:
        return {"AUC": None, "P": None, "NP": None, "OP50": None, "OP75": None}
    return {"AUC": curves.auc, "P": curves.precision, "NP": curves.norm_precision, "OP50": curves.op50,
            "OP75": curves.op75}


MISSING_NOTES = {
    "error": "every sequence had a usable result file",
    "zero": "sequences without a usable result file scored as an all-zero file (`--missing zero`)",
    "skip": "sequences that any tracker lacks left out for every tracker (`--missing skip`)",
}


def summary_rows(scores: list[TrackerScore]) -> list[dict]:
    """One row per tracker: AUC, P (20 px), NP (0.20), OP50, OP75 in %, frames/s, sequences scored, and how
    many lacked a usable result file, with the mode that scored them in the column name."""
    return [{"Tracker": s.tracker, **_scores(s.overall), "FPS": s.fps, "Sequences": len(s.sequences),
             f"Missing ({s.missing_mode})": len(s.lacking)} for s in scores]


def missing_note(scores: list[TrackerScore]) -> str:
    """One line for under the table: which missing-results mode ran and what it did."""
    mode = scores[0].missing_mode if scores else "error"
    return f"Missing results: mode `{mode}`: {MISSING_NOTES[mode]}.\n"


def sequence_rows(scores: list[TrackerScore]) -> list[dict]:
    """One row per tracker and sequence, with its speed and, for a failure, why."""
    return [{"Tracker": t.tracker, "Sequence": s.name, **_scores(s.result), "Frames": s.result.num_frames,
             "FPS": s.fps, "Problem": s.problem or ""} for t in scores for s in t.sequences]


def _has(sequence: Sequence, attribute: str) -> bool:
    return bool(np.any(sequence.attributes.get(attribute, False)))  # per-sequence flags, or per-frame ones


def attribute_rows(scores: list[TrackerScore], sequences: list[Sequence]) -> list[dict]:
    """Per attribute (in the dataset's order): how many sequences have it, and each tracker's AUC and P on
    them. Empty when the dataset gives no attributes."""
    scored = {s.name for s in scores[0].sequences} if scores else set()
    sequences = [s for s in sequences if s.name in scored]
    found = list(dict.fromkeys(a for s in sequences for a in s.attributes))
    names = ATTRIBUTE_NAMES.get(sequences[0].dataset, {}) if sequences else {}
    rows = []
    for attribute in sorted(found, key=lambda a: list(names).index(a) if a in names else len(names)):
        with_it = {s.name for s in sequences if _has(s, attribute)}
        if not with_it:
            continue
        row = {"Attribute": attribute, "Name": names.get(attribute, attribute), "Sequences": len(with_it)}
        for score in scores:
            part = _scores(score.subset(with_it))
            row[f"{score.tracker} AUC"], row[f"{score.tracker} P"] = part["AUC"], part["P"]
        rows.append(row)
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)  # as the paper's tables


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(row[k]).replace("|", "\\|") for k in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict]) -> str:
    """Full-precision CSV (floats as Python's shortest round-trip repr, empty for none)."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else repr(float(v)) if isinstance(v, float) else v
                          for k, v in row.items()} for row in rows)
    return buffer.getvalue()


# --- plots -----------------------------------------------------------------------------------------------

# (file stem, curve attribute, x values, legend score, title, x label, y label)
PLOTS = (
    ("success_plot", "success_curve", IOU_THRESHOLDS, "auc", "Success plot", "Overlap threshold",
     "Overlap Precision [%]"),
    ("precision_plot", "precision_curve", PIXEL_THRESHOLDS, "precision", "Precision plot",
     "Location error threshold [pixels]", "Distance Precision [%]"),
    ("norm_precision_plot", "norm_precision_curve", NORM_THRESHOLDS, "norm_precision",
     "Normalized precision plot", "Location error threshold", "Distance Precision [%]"),
)


def plot_curves(scores: list[TrackerScore], out_dir: str | Path, dataset_title: str) -> list[Path]:
    """Success (AUC in the legend), precision (P@20) and normalised precision (NP@0.20) plots of every
    tracker on one figure each, best first in the legend, as PNG and PDF. Returns the files written."""
    import seaborn as sns  # slow to import; only needed here
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = sns.color_palette("bright", 10)
    styles = ("-", "--", ":", "-.")
    written = []
    for stem, curve, xs, score, title, xlabel, ylabel in PLOTS:
        ranked = sorted(scores, key=lambda s: -getattr(s.overall, score))
        with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.2):
            fig = Figure(figsize=(6.4, 4.8))
            ax = fig.add_subplot()
            for i, s in enumerate(ranked):
                ax.plot(xs, s.overall.percent_curves()[curve], color=colors[i % 10], linestyle=styles[i // 10 % 4],
                        linewidth=2.5 if i == 0 else 1.8, label=f"{s.tracker} [{getattr(s.overall, score):.1f}]")
            ax.set(xlim=(xs[0], xs[-1]), ylim=(0, 100), xlabel=xlabel, ylabel=ylabel,
                   title=f"{title} on {dataset_title}")
            ax.legend(loc="lower left" if stem == "success_plot" else "lower right", fontsize="small")
            fig.tight_layout()
            for fmt in PLOT_FORMATS:
                fig.savefig(out_dir / f"{stem}.{fmt}", dpi=150)
                written.append(out_dir / f"{stem}.{fmt}")
    return written


# --- the report ------------------------------------------------------------------------------------------

def speed_rows(scores: list[TrackerScore]) -> list[dict]:
    """Per tracker: frames/s over all timed frames, and the spread of the per-sequence frames/s."""
    rows = []
    for s in scores:
        per_sequence = [q.fps for q in s.sequences if q.fps is not None]
        rows.append({"Tracker": s.tracker, "FPS": s.fps, "Timed sequences": len(per_sequence),
                     "Slowest seq FPS": min(per_sequence, default=None),
                     "Median seq FPS": float(np.median(per_sequence)) if per_sequence else None})
    return rows


def report_markdown(scores: list[TrackerScore], sequences: list[Sequence], dataset_title: str,
                    skipped: list[str] = ()) -> str:
    note = ("AUC, P (20 px), NP (0.20), OP50, OP75 in %, as the toolkits compute them (docs/official-code.md); frame "
            "0 is scored as the ground truth. FPS from the `_time.txt` files (frame 0 includes initialisation).\n")
    lines = [f"# {dataset_title}: {len(scores[0].sequences)} sequences\n", note,
             markdown_table(summary_rows(scores)), missing_note(scores)]
    failures = [f"- {t.tracker} / {s.name}: {s.problem}" for t in scores for s in t.failures]
    if failures:
        lines += ["## Without a usable result file (scored as an all-zero file)\n", "\n".join(failures) + "\n"]
    if skipped:
        lines += ["## Left out for every tracker (missing results)\n", ", ".join(skipped) + "\n"]
    attributes = attribute_rows(scores, sequences)
    if attributes:
        lines += ["## Per attribute (AUC and P in %)\n", markdown_table(attributes)]
    lines += ["## Speed (frames/s)\n", markdown_table(speed_rows(scores)), "## Plots\n",
              "".join(f"![{stem}]({stem}.png)\n" for stem, *_ in PLOTS)]
    return "\n".join(lines)


def write_report(scores: list[TrackerScore], sequences: list[Sequence], out_dir: str | Path,
                 dataset_title: str, skipped: list[str] = ()) -> list[Path]:
    """report.md, summary.csv, sequences.csv, attributes.csv (when there are attributes), speed.csv and
    the plots, under out_dir. Returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"report.md": report_markdown(scores, sequences, dataset_title, skipped),
             "summary.md": markdown_table(summary_rows(scores)), "summary.csv": csv_text(summary_rows(scores)),
             "sequences.csv": csv_text(sequence_rows(scores)), "speed.csv": csv_text(speed_rows(scores))}
    attributes = attribute_rows(scores, sequences)
    if attributes:
        files["attributes.csv"] = csv_text(attributes)
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return [out_dir / name for name in files] + plot_curves(scores, out_dir, dataset_title)
