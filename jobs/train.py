"""spark-submit entry point: train, evaluate, log and register a model (and write its model card).

spark-submit jobs/train.py --model flight_delay [--training-set-version N] [--env cluster]
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
