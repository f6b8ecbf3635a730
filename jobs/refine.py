"""spark-submit entry point: `spark-submit jobs/refine.py --run-date D ...` (also `python jobs/refine.py`).

Parses the arguments, loads conf, calls the engine and exits with its code, through the same code path
as `featurelake refine`.
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["refine", *sys.argv[1:]]))
