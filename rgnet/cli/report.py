"""``rgnet-report <sweep dir>``: the tables and the standard figures of a sweep, seeds averaged.

    rgnet-train -m experiment=mehta_schwab data.K=0.3,0.408,0.4407,0.6 seed=0,1,2
    rgnet-report outputs/mehta_schwab            # writes outputs/mehta_schwab/report/

Runs that differ only in their seeds are one row (mean ± standard error, count; ``replicates.csv`` and
``report.md``), every run one row of ``report.csv`` (see :mod:`rgnet.runs.report`). The table is printed
once, on stdout. Failed runs are listed with their errors and never averaged in; the exit status is 1 when
any run failed, so scripts notice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rgnet.runs.config import ConfigError, check_directory
from rgnet.runs.report import make_report


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``rgnet-report``."""
    parser = argparse.ArgumentParser(prog="rgnet-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="directory of a sweep (or a single run) written by rgnet-train")
    parser.add_argument("--out", default=None, help="where to write the report (default: <sweep_dir>/report)")
    args = parser.parse_args(argv)
    try:
        if Path(args.sweep_dir).is_dir():  # before anything is read or written
            out = args.out if args.out is not None else Path(args.sweep_dir) / "report"
            check_directory(out, "--out", label=None if args.out is not None else f"--out (default {out})")
        report = make_report(args.sweep_dir, args.out)
    except (FileNotFoundError, ConfigError) as err:
        print(f"rgnet-report: {err}", file=sys.stderr)
        return 2
    print(report["text"])
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
