"""spark-submit entry point: monitor a registered model on a run date (drift, realized quality, anomalies).

spark-submit jobs/monitor.py --model flight_delay --run-date 2013-12-31 [--model-uri models:/flight_delay/3]

Exits 3 when retraining is recommended (the summary names the threshold crossed), 0 when not.
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["monitor", *sys.argv[1:]]))
