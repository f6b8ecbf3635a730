"""spark-submit entry point: materialize feature groups for run dates.

spark-submit jobs/materialize_features.py [--group NAME] --run-date 2013-01-01 [--env cluster]
"""

import sys

from featurelake.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
