"""Weights from the command line: fetch the paper's model, convert between formats, describe, publish.

    python -m kit.weights fetch [--cache DIR]                 # the official checkpoint, downloaded + converted once
    python -m kit.weights convert SRC DST [--dtype bf16|fp16]  # official file or any format we read -> ours
    python -m kit.weights info REF                            # variant, parameters, dtype, size, origin
    python -m kit.weights push DST owner/repo [--dry-run DIR]  # upload with a generated model card

SRC and REF are anything `--weights` takes: an official .pth.tar, a folder/.safetensors of ours, hf://owner/repo,
or `official`. Exit status 0 done, 2 bad input; every error is one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys

from kit.cli import EXIT_BAD_INPUT, EXIT_OK, report_unexpected


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kit.weights", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    sub = p.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download the official checkpoint and convert it once (cached)")
    fetch.add_argument("--cache", help="cache folder (default $JOINTNLT_CACHE, else ~/.cache/jointnlt)")
    fetch.add_argument("--url", help="download from this URL (a mirror) instead of the authors' Drive folder")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    convert = sub.add_parser("convert", help="any weights we read -> model.safetensors + config.json")
    convert.add_argument("src")
    convert.add_argument("dst", help="folder to write (must not exist, unless --force)")
    convert.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    convert.add_argument("--force", action="store_true", help="replace DST if it exists")
    info = sub.add_parser("info", help="variant, parameters, dtype, size and origin of weights")
    info.add_argument("ref")
    info.add_argument("--json", action="store_true", help="print JSON")
    push = sub.add_parser("push", help="upload a folder of ours to the Hub with a generated model card")
    push.add_argument("folder")
    push.add_argument("repo", help="owner/repo on the Hugging Face Hub")
    push.add_argument("--private", action="store_true")
    push.add_argument("--dry-run", metavar="DIR", help="write what would be uploaded into DIR instead")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from kit.weights.checkpoint import CheckpointError

    try:
        return COMMANDS[args.command](args)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:
        return report_unexpected(err)


def _fetch(args) -> int:
    from kit.weights.official import fetch_official

    print(fetch_official(args.cache, url=args.url, quiet=args.quiet))
    return EXIT_OK


def _convert(args) -> int:
    from kit.weights.convert import convert
    from kit.weights.loading import local_weights

    result = convert(local_weights(args.src), args.dst, dtype=args.dtype, overwrite=args.force, reference=args.src)
    print(result.summary())
    return EXIT_OK


def _info(args) -> int:
    from kit.weights.convert import describe
    from kit.weights.loading import local_weights

    info = describe(local_weights(args.ref), reference=args.ref)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    source = info["source"]
    origin = (source.get("name") or (f"converted from {source['converted_from']}" if "converted_from" in source
              else "; ".join(source.get("official_entries", [])) or "?"))
    for label, value in [("reference", info["reference"]), ("path", info["path"]), ("format", info["format"]),
                         ("variant", info["variant"]),
                         ("parameters", f"{info['parameters']:,} ({info['parameters'] / 1e6:.1f} M)"),
                         ("dtype", info["dtype"]), ("size", f"{info['size_bytes'] / 2**20:.1f} MiB"),
                         ("origin" if "official_entries" not in source else "other entries", origin)]:
        print(f"{label:>13}: {value}")
    return EXIT_OK


def _push(args) -> int:
    from kit.weights.hub import push

    files = push(args.folder, args.repo, dry_run=args.dry_run, private=args.private)
    where = args.dry_run if args.dry_run else f"https://huggingface.co/{args.repo.removeprefix('hf://')}"
    print(f"{'wrote' if args.dry_run else 'uploaded'} {', '.join(files)} to {where}"
          + ("" if args.dry_run else f"; load it with --weights hf://{args.repo.removeprefix('hf://')}"))
    return EXIT_OK


COMMANDS = {"fetch": _fetch, "convert": _convert, "info": _info, "push": _push}

if __name__ == "__main__":
    sys.exit(main())
