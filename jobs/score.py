"""spark-submit entry point: score the events of run dates with a registered model.

spark-submit jobs/score.py --model flight_delay --run-date 2013-12-01 [--model-uri models:/flight_delay/3]
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
