"""The project's feature groups and labels: pure DataFrame functions declared with @feature_group.

Every group defined in a module of this package is discovered and materialized into features.<group> per
run date, gated by expectations/features.<group>.json when that suite exists. See README.md, "Add a feature
group"; conf/base/features.yaml may switch a group off.
"""
