"""The feature store: feature groups, their materialization, the point-in-time join, training sets."""
