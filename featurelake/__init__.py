"""featurelake: a feature pipeline on Apache Spark and Delta Lake.

The public API a project's ``features`` package uses; everything else is the engine's::

    from featurelake import RUN_DATE, DateRange, Entity, Feature, feature_group
"""

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.featurestore.api import Entity, Feature, FeatureGroup, feature_group

__all__ = ["RUN_DATE", "DateRange", "Entity", "Feature", "FeatureGroup", "feature_group"]
__version__ = "0.1.0"
