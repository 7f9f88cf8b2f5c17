"""``rgnet-report <sweep dir>``: one table (printed and ``report.csv``) and the standard figures of a sweep.

    rgnet-train -m experiment=mehta_schwab data.K=0.3,0.408,0.4407,0.6
    rgnet-report outputs/mehta_schwab            # writes outputs/mehta_schwab/report/

Failed runs are listed with their errors; the exit status is 1 when any run failed, so scripts notice.
"""

from __future__ import annotations

import argparse
import sys

from rgnet.runs.report import make_report


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``rgnet-report``."""
    parser = argparse.ArgumentParser(prog="rgnet-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="directory of a sweep (or a single run) written by rgnet-train")
    parser.add_argument("--out", default=None, help="where to write the report (default: <sweep_dir>/report)")
    args = parser.parse_args(argv)
    try:
        report = make_report(args.sweep_dir, args.out)
    except FileNotFoundError as err:
        print(f"rgnet-report: {err}", file=sys.stderr)
        return 2
    print(report["text"])
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
