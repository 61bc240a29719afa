"""The project's command lines, one entry: `python -m engine COMMAND [options]` (`engine.cli` holds each).

    python -m engine train --preset NAME [--steps N] [--seed S] [--out DIR] [--resume] [--list]
    python -m engine figure_data fig11|fig10 ...
    python -m engine fitted [--out pretrained/fits]
    python -m engine valley [--out pretrained/fits]
    python -m engine headline [--out pretrained/headline.csv]
    python -m engine report pretrained
    python -m engine context_size [--out pretrained/sweeps/context_size.csv] [--d 2 3 5 10]
    python -m engine seeds [--seeds 0 1 2 3 4] [--presets NAME ...]
"""

from __future__ import annotations

import sys

from engine import cli

COMMANDS = {"train": cli.train_main, "figure_data": cli.figure_data_main, "fitted": cli.fitted_main,
            "valley": cli.valley_main, "headline": cli.headline_main, "report": cli.report_main,
            "context_size": cli.context_size_main, "seeds": cli.seeds_main}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(__doc__.strip().split("\n\n", 1)[1] if args[:1] in ([], ["-h"], ["--help"]) else
              f"unknown command {args[0]!r}: choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 0 if args[:1] in ([], ["-h"], ["--help"]) else 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
