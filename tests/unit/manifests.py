"""A training-set manifest as ``build_training_set`` writes it to disk (the keys and value formats of
``<layer>/_manifests/<name>/v<version>.json``), written by hand for the tests that read one."""

from __future__ import annotations

KEYS = ["year", "month", "day", "carrier", "flight", "origin"]


def on_disk_manifest() -> dict:
    return {
        "training_set": "flight_delay",
        "content_hash": "3f" * 32,
        "git_commit": "0562f0f0c1a3d6b2e4f5a6b7c8d9e0f1a2b3c4d5-dirty",
        "run_id": "20261128T145746-1a2b3c",
        "input_versions": {"silver.flights": 3, "features.carrier_performance": 2, "features.calendar": 0},
        "version": 4,
        "table": "training_sets.flight_delay",
        "created_at": "2026-11-28T14:57:46+00:00",
        "rows": 2900,
        "splits": {
            "test": {"rows": 600, "positive_rate": 0.1875, "from": "2013-01-11", "to": "2013-01-14"},
            "train": {"rows": 2000, "positive_rate": 0.2105, "from": "2013-01-01", "to": "2013-01-08"},
            "validation": {"rows": 300, "positive_rate": 0.25, "from": "2013-01-09", "to": "2013-01-10"},
        },
        "label": "is_delayed",
        "features": ["carrier", "origin", "dest", "carrier_delayed_share_7d", "cal_hour"],
        "categorical_features": ["carrier", "origin", "dest"],
        "plan": {
            "name": "flight_delay",
            "table": "training_sets.flight_delay",
            "events": {
                "table": "silver.flights",
                "keys": list(KEYS),
                "event_time": "sched_dep_ts",
                "prediction_offset_minutes": -60,
                "columns": ["carrier", "origin", "dest"],
                "version": 3,
                "noun": "flight",
            },
            "label": {
                "name": "is_delayed",
                "definition": "features.labels:is_delayed",
                "params": {"threshold_minutes": 15, "cancelled": "exclude", "diverted": "positive"},
                "description": "arrived more than 15 minutes late, or diverted",
                "positive": "delayed",
                "horizon": "0 periods",
            },
            "splits": {
                "train": ["2013-01-01", "2013-01-08"],
                "validation": ["2013-01-09", "2013-01-10"],
                "test": ["2013-01-11", "2013-01-14"],
            },
            "feature_groups": [
                {
                    "name": "carrier_performance",
                    "table": "features.carrier_performance",
                    "version": 2,
                    "keys": ["carrier"],
                    "event_time": "day_ends_at",
                    "ttl_seconds": 604800.0,
                    "features": {"carrier_delayed_share_7d": "Share of the carrier's flights delayed, last 7 days"},
                },
                {
                    "name": "calendar",
                    "table": "features.calendar",
                    "version": 0,
                    "keys": ["year", "month", "day", "hour"],
                    "event_time": "published_at",
                    "ttl_seconds": None,
                    "features": {"cal_hour": "Hour of the scheduled departure"},
                },
            ],
            "time_buckets": 16,
        },
    }
