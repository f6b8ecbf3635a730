"""spark-submit entry point: `spark-submit jobs/ingest.py --run-date D ...` (also `python jobs/ingest.py`).

Parses the arguments, loads conf, calls the engine and exits with its code, through the same code path
as `featurelake ingest`.
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
