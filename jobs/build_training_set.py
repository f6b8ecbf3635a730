"""spark-submit entry point: build a training set (or rebuild a recorded version exactly).

spark-submit jobs/build_training_set.py --name flight_delay [--rebuild-from-manifest PATH] [--env cluster]
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["training-set", *sys.argv[1:]]))
