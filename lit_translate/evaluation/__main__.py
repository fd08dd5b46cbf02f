"""Pre-fetch the evaluation's pretrained files: ``python -m lit_translate.evaluation fetch [--dir DIR]``.

Run it once on a machine with internet access, then on offline machines ``export TORCH_HOME=DIR`` (or pass the
files through the ``--metrics.*_weights`` options). ``list`` shows the registry and what the cache holds.
"""

from __future__ import annotations

import argparse
import sys

from lit_translate.pretrained.weights import (
    WEIGHTS,
    WeightsChecksumError,
    WeightsUnavailableError,
    cache_dir,
    export_hint,
    fetch,
    matches,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lit_translate.evaluation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("fetch", help="download pretrained files (checksums verified)")
    get.add_argument(
        "--dir",
        default=None,
        help="future TORCH_HOME; files go to DIR/hub/checkpoints (default: the current torch home)",
    )
    get.add_argument("--only", default=None, help=f"comma-separated subset of: {','.join(WEIGHTS)}")
    commands.add_parser("list", help="show the registry and which files the torch.hub cache holds")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        for spec in WEIGHTS.values():
            path = cache_dir() / spec.filename
            state = ("ok" if matches(spec, path) else "WRONG CHECKSUM") if path.is_file() else "missing"
            print(f"{spec.name:14s} {state:14s} {path}\n{'':14s} {spec.url}\n{'':14s} used by: {spec.used_by}")
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    unknown = sorted(set(names or []) - set(WEIGHTS))
    if unknown:
        print(f"error: unknown name(s) {unknown}; choose from {sorted(WEIGHTS)}", file=sys.stderr)
        return 2
    try:
        done = fetch(names, args.dir)
    except (WeightsUnavailableError, WeightsChecksumError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, path, action in done:
        print(f"{action:10s} {name:14s} {path}")
    if done:
        print(export_hint(done[0][1].parent.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
