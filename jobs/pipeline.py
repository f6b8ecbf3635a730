"""spark-submit entry point: `spark-submit jobs/pipeline.py --run-date D ...` (also `python jobs/pipeline.py`).

Parses the arguments, loads conf, calls the engine and exits with its code, through the same code path
as `featurelake run`.
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
