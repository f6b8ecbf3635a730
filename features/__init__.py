"""The project's feature groups and labels: pure DataFrame functions declared with @feature_group.

Each group is listed in conf/base/features.yaml, materialized into features.<group> per run date and gated
by expectations/features.<group>.json. See README.md, "Add a feature group".
"""
