"""Projects of other shapes than the demo's, written as a new user would: conf, a features package, and real
files in a landing zone. Each runs through every stage with `featurelake run --conf-dir`:

- ``monthly``: a market report per city, dated only by (year, month), missing values written NA, each month's
  report delivered on the 15th of the next month into the folder of that day (``folders: arrival``) and known
  then; the label (next month's price is higher) looks one period ahead;
- ``weekly``: sales per store and ISO (year, week), known when the week is over;
- ``hourly``: a reading per station and hour, stamped in UTC, delivered per Berlin day (23 hours on the day
  the clocks go forward, 25 on the day they go back).

The values follow a seeded random walk, so a test can recompute any of them; bench/cadences.py writes a
monthly one of 15 years.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import textwrap
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import yaml

from featurelake.core.dates import DateRange
from featurelake.core.periods import Grain
from featurelake.testing.plugin import TEST_SHUFFLE_PARTITIONS

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Shape:
    name: str  # the source
    cadence: str
    run_dates: DateRange  # what `featurelake run --from --to` covers
    splits: dict[str, tuple[str, str]]
    entities: int

    @property
    def periods(self) -> list[dt.date]:
        return Grain.of(self.cadence).starts(self.run_dates)


def monthly(periods: int = 18, cities: int = 12) -> Shape:
    """Months from January 2010: the last six are scored after the training window, the two before them are
    the test split, the two before those validation, the rest train."""
    grain = Grain.of("monthly")
    first = dt.date(2010, 1, 1)

    def month(k: int) -> dt.date:
        return grain.shift(first, k)

    def until(k: int) -> str:  # the last day of the month before month k
        return (month(k) - dt.timedelta(days=1)).isoformat()

    return Shape(
        "market",
        "monthly",
        DateRange(first, grain.end(month(periods - 1))),
        {
            "train": (first.isoformat(), until(periods - 10)),
            "validation": (month(periods - 10).isoformat(), until(periods - 8)),
            "test": (month(periods - 8).isoformat(), until(periods - 6)),
        },
        cities,
    )


# Across the turn of the year (ISO week 1 of 2013 began on Monday 31 December 2012); monitored two months after
# the window and on the run's last week.
WEEKLY = Shape(
    "sales",
    "weekly",
    DateRange(dt.date(2012, 11, 5), dt.date(2013, 4, 14)),
    {
        "train": ("2012-11-05", "2012-12-16"),
        "validation": ("2012-12-17", "2012-12-30"),
        "test": ("2012-12-31", "2013-01-27"),
    },
    8,
)
# Five Berlin days across the change to summer time (the 30th has 23 hours): train on two, validate and test on
# one each, score the last.
HOURLY = Shape(
    "readings",
    "hourly",
    DateRange(dt.date(2014, 3, 29), dt.date(2014, 4, 3)),
    {
        "train": ("2014-03-29", "2014-03-30"),
        "validation": ("2014-03-31", "2014-03-31"),
        "test": ("2014-04-01", "2014-04-01"),
    },
    2,
)


# ------------------------------------------------------------------------------------------ the rows


def market_rows(shape: Shape) -> dict[dt.date, list[dict]]:
    """Per month: one report per city; one value in 40 is missing (NA)."""
    rng, rows = random.Random(7), {}
    prices = {f"city_{i:02d}": 100_000.0 + 5_000 * i for i in range(shape.entities)}
    for month in shape.periods:
        rows[month] = []
        for city in prices:
            prices[city] *= 1 + rng.gauss(0.002, 0.02)
            listings = rng.randint(50, 500)
            rows[month].append(
                {
                    "year": month.year,
                    "month": month.month,
                    "city": city,
                    "listings": None if rng.random() < 0.025 else listings,
                    "median_price": round(prices[city], 2),
                }
            )
    return rows


def sales_rows(shape: Shape) -> dict[dt.date, list[dict]]:
    rng, rows = random.Random(11), {}
    for week in shape.periods:
        year, number, _ = week.isocalendar()
        rows[week] = [
            {
                "year": year,
                "week": number,
                "store": f"store_{s}",
                "units": rng.randint(40, 160),
                "price": round(rng.uniform(1, 3), 2),
            }
            for s in range(shape.entities)
        ]
    return rows


def berlin_hours(day: dt.date) -> list[dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), BERLIN).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN).astimezone(dt.UTC)
    return [start + dt.timedelta(hours=h) for h in range(int((end - start).total_seconds() // 3600))]


def reading_rows(shape: Shape) -> dict[dt.date, list[dict]]:
    rng, rows = random.Random(13), {}
    usual = {f"station_{s}": 12.0 + 3 * s for s in range(shape.entities)}
    temperature = dict(usual)
    for day in shape.periods:
        rows[day] = []
        for hour in berlin_hours(day):
            for station in temperature:  # a walk pulled back to the station's usual temperature
                temperature[station] += 0.2 * (usual[station] - temperature[station]) + rng.gauss(0, 1.0)
                rows[day].append(
                    {
                        "station": station,
                        "measured_at": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "temperature": round(temperature[station], 2),
                    }
                )
    return rows


ROWS = {"market": market_rows, "sales": sales_rows, "readings": reading_rows}


# The monthly project's reports land in the folder of the day they arrive: the 15th of the next month; silver
# says when each row arrived (the end of that day in Chicago), and city_trend keeps its versions by it.
ARRIVES = {"folders": "arrival", "arrives_within": "1 month"}
ARRIVED_AT = {"name": "arrived_at", "arrival_time": {"timezone": "America/Chicago"}}


def arrival(month: dt.date, day: int = 15) -> dt.date:
    """The day of the next month on which a month's report arrives."""
    return Grain.of("monthly").shift(month, 1).replace(day=day)


def deliver(
    landing: Path, shape: Shape, rows: dict[dt.date, list[dict]], file_per_hour: bool = False, day: int = 15
) -> None:
    """Each period's rows in the folder of its first day (a market report: of the ``day`` of the next month, when it
    arrives): CSV (NA for a missing value) or JSON Lines (readings: one file a day, or one file per hour as a feed
    that writes each hour as it ends)."""
    for period, period_rows in rows.items():
        folder = landing / shape.name / (arrival(period, day) if shape.name == "market" else period).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        if shape.name == "readings":
            files: dict[str, list[dict]] = {}
            for r in period_rows:
                hour = r["measured_at"][:13].replace("-", "").replace("T", "_") if file_per_hour else str(period)
                files.setdefault(f"readings_{hour}.jsonl", []).append(r)
            for name, file_rows in files.items():
                (folder / name).write_text("".join(json.dumps(r) + "\n" for r in file_rows))
        else:
            columns = list(period_rows[0])
            lines = [",".join(columns)] + [
                ",".join("NA" if r[c] is None else str(r[c]) for c in columns) for r in period_rows
            ]
            (folder / f"{shape.name}_{period}.csv").write_text("\n".join(lines) + "\n")


CORRECTED_PRICE = 999_999.0  # city_00's report of the month before the last, re-delivered


CORRECTION_DAY = 25  # of the month after the corrected one: in its arrival window, and in the next month's


def redeliver_corrected(project: Path, shape: Shape) -> dt.date:
    """Deliver the month before the last again, with city_00's price corrected: a new file, arriving on the 25th
    of the next month (the last month), ten days after the report it corrects."""
    month = shape.periods[-2]
    rows = market_rows(shape)[month]
    rows = [{**r, "median_price": CORRECTED_PRICE} if r["city"] == "city_00" else r for r in rows]
    deliver(project / "lakehouse" / "landing", shape, {month: rows}, day=CORRECTION_DAY)
    return month


# ------------------------------------------------------------------------------------------ the conf


SOURCES = {
    "market": {
        "format": "csv",
        "cadence": "monthly",
        "files": "*.csv",
        "table": "bronze.market",
        "date_columns": {"year": "year", "month": "month"},
        "options": {"nullValue": "NA"},
        "columns": {"year": "int", "month": "int", "city": "string", "listings": "int", "median_price": "double"},
    },
    "sales": {
        "format": "csv",
        "cadence": "weekly",
        "files": "*.csv",
        "table": "bronze.sales",
        "date_columns": {"year": "year", "week": "week"},
        "columns": {"year": "int", "week": "int", "store": "string", "units": "int", "price": "double"},
    },
    "readings": {
        "format": "jsonl",
        "cadence": "hourly",
        "files": "*.jsonl",
        "table": "bronze.readings",
        "date_columns": {"timestamp": "measured_at", "timezone": "Europe/Berlin"},
        "columns": {"station": "string", "measured_at": "timestamp", "temperature": "double"},
    },
}
TABLES = {
    "market": {
        "keys": ["city", "year", "month"],
        # the report of a month is known on the 15th of the next, at midnight in Chicago
        "derive": [
            {
                "name": "reported_at",
                "period_time": {
                    "year": "year",
                    "month": "month",
                    "timezone": "America/Chicago",
                    "offset": {"months": 1, "days": 14},
                },
            }
        ],
    },
    "sales": {
        "keys": ["store", "year", "week"],
        "derive": [
            {"name": "week_ends_at", "period_time": {"year": "year", "week": "week", "timezone": "UTC", "at": "end"}}
        ],
    },
    "readings": {"keys": ["station", "measured_at"], "derive": []},
}
EVENTS = {
    "market": {"keys": ["city", "year", "month"], "event_time": "reported_at", "columns": ["city"], "noun": "report"},
    "sales": {
        "keys": ["store", "year", "week"],
        "event_time": "week_ends_at",
        "columns": ["store"],
        "noun": "store-week",
    },
    "readings": {
        "keys": ["station", "measured_at"],
        "event_time": "measured_at",
        "columns": ["station"],
        "noun": "reading",
    },
}
LABELS = {
    "market": {
        "name": "price_up",
        "definition": "features.labels:next_period_higher",
        "params": {"entity": "city", "order": ["year", "month"], "value": "median_price"},
        "description": "the next month's median price is higher",
        "positive": "rising",
        "horizon": "1 period",
    },
    "sales": {
        "name": "busy",
        "definition": "features.labels:above",
        "params": {"value": "units", "threshold": 110},
        "description": "sold more than 110 units",
        "positive": "busy",
    },
    "readings": {
        "name": "warm",
        "definition": "features.labels:above",
        "params": {"value": "temperature", "threshold": 14},
        "description": "warmer than 14 degrees",
        "positive": "warm",
    },
}
# How often `featurelake run` monitors each model after its training window (and on the last period of a run).
EVERY = {"market": "3 periods", "sales": "2 months", "readings": "7 periods"}
GROUPS = {"market": "city_trend", "sales": "store_trend", "readings": "station_trend"}
FEATURE = {"market": "price_3m", "sales": "units_4w", "readings": "temperature_3h"}

FEATURES = {
    "labels.py": '''
        """Labels of the cadence projects."""

        from pyspark.sql import Window
        from pyspark.sql import functions as F


        def next_period_higher(events, entity, order, value):
            """1 when the entity's next row has a higher value: a label that looks one period ahead."""
            following = Window.partitionBy(entity).orderBy(*order).rowsBetween(1, 1)
            return (F.max(value).over(following) > F.col(value)).cast("int")


        def above(events, value, threshold):
            return (F.col(value) > threshold).cast("int")
    ''',
}
HEADER = """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from featurelake import Entity, Feature, feature_group


    def trailing_mean(key, order, value, rows):
        \"\"\"The mean of the entity's value over this row and the ``rows`` before it.\"\"\"
        window = Window.partitionBy(key).orderBy(*order).rowsBetween(-rows, Window.currentRow)
        return F.avg(value).over(window)
"""
GROUP_CODE = {
    "market": """
    @feature_group(
        entity=Entity("city", join_keys={"city": "string"}),
        inputs={"market": "silver.market"},
        event_time="reported_at",
        created_time="arrived_at",
        keep_versions=True,
        lookback="2 periods",
        features=[
            Feature("price_3m", "double", "mean median price of the last three reports"),
            Feature("listings", "double", "listings of the month"),
        ],
    )
    def city_trend(market):
        # known once the last of the three reports it reads had arrived: a correction is a new version
        three = Window.partitionBy("city").orderBy("year", "month").rowsBetween(-2, Window.currentRow)
        return market.select(
            "city",
            "reported_at",
            "_run_date",
            F.max("arrived_at").over(three).alias("arrived_at"),
            trailing_mean("city", ["year", "month"], "median_price", 2).alias("price_3m"),
            F.col("listings").cast("double").alias("listings"),
        )
""",
    "sales": """
    @feature_group(
        entity=Entity("store", join_keys={"store": "string"}),
        inputs={"sales": "silver.sales"},
        event_time="week_ends_at",
        lookback="3 periods",
        features=[Feature("units_4w", "double", "mean units of the last four weeks")],
    )
    def store_trend(sales):
        return sales.select(
            "store", "week_ends_at", "_run_date", trailing_mean("store", ["year", "week"], "units", 3).alias("units_4w")
        )
""",
    "readings": """
    @feature_group(
        entity=Entity("station", join_keys={"station": "string"}),
        inputs={"readings": "silver.readings"},
        event_time="measured_at",
        lookback="2 hours",  # the two readings before a day's first hour
        features=[Feature("temperature_3h", "double", "mean of the last three readings")],
    )
    def station_trend(readings):
        mean = trailing_mean("station", ["measured_at"], "temperature", 2)
        return readings.select("station", "measured_at", "_run_date", mean.alias("temperature_3h"))
""",
}


def period_conf(name: str) -> dict:
    """The sources and tables entries of one source and its bronze and silver tables, as conf overrides."""
    silver = {"keys": TABLES[name]["keys"], "partition_by": ["_run_date"]}
    silver["refine"] = {"source": f"bronze.{name}", "derive": TABLES[name]["derive"]}
    return {
        "sources": {name: dict(SOURCES[name])},  # a copy: a caller may change it
        "tables": {f"bronze.{name}": {"partition_by": ["_run_date"]}, f"silver.{name}": silver},
    }


def arriving_silver() -> dict:
    """silver.market of the monthly project: with the day each row arrived."""
    silver = period_conf("market")["tables"]["silver.market"]
    return {**silver, "refine": {**silver["refine"], "derive": [*silver["refine"]["derive"], ARRIVED_AT]}}


def conf(shape: Shape, package: str = "features") -> dict[str, dict]:
    """The conf files of a project of this shape whose feature groups and labels are in ``package`` (and its
    suites in ``<package>_expectations`` when that is not the default), by file name under conf/base."""
    name, group = shape.name, GROUPS[shape.name]
    label = {**LABELS[name], "definition": LABELS[name]["definition"].replace("features.", f"{package}.", 1)}
    own = {} if package == "features" else {"features.yaml": {"features": {"package": package}}}
    own |= (
        {} if package == "features" else {"quality.yaml": {"quality": {"expectations_dir": f"{package}_expectations"}}}
    )
    feature = FEATURE[name]
    events = {"table": f"silver.{name}", "prediction_offset_minutes": -60 if name == "readings" else 0, **EVENTS[name]}
    return {
        **own,
        "lake.yaml": {"lake": {"root": "${FEATURELAKE_LAKE_ROOT:lakehouse}"}},
        "sources.yaml": {
            "sources": {n: {**c, **ARRIVES} if n == "market" else c for n, c in period_conf(name)["sources"].items()}
        },
        "tables.yaml": {
            "tables": {
                **period_conf(name)["tables"],
                **({"silver.market": arriving_silver()} if name == "market" else {}),
                f"training_sets.{name}": {},
                f"predictions.{name}": {"partition_by": ["_run_date"]},
                f"monitoring.{name}": {},
                "quality.results": {},
                "ops.run_ledger": {},
            }
        },
        "training_sets.yaml": {
            "training_sets": {
                name: {
                    "table": f"training_sets.{name}",
                    "events": events,
                    "label": label,
                    "feature_groups": [group],
                    "splits": {split: {"from": a, "to": b} for split, (a, b) in shape.splits.items()},
                }
            }
        },
        "models.yaml": {
            "models": {
                name: {
                    "training_set": name,
                    "algorithm": "logistic_regression",
                    "features": {"categorical": [EVENTS[name]["columns"][0]], "numeric": [f"{group}.*"]},
                    "grid": {"regParam": [0.01]},
                    "partitions": 2,
                    "baselines": {"logistic_regression": [feature]},
                    "segment_min_rows": 10,
                    "card": {"intended_use": f"A test of a {shape.cadence} source through every stage."},
                    "monitoring": {"window": "3 periods", "every": EVERY[name], "psi_bins": 4, "min_labelled_rows": 10},
                }
            }
        },
    }


SPARK_LOCAL = {
    "spark": {
        "master": "local[2]",
        "shuffle_partitions": TEST_SHUFFLE_PARTITIONS,
        "settings": {
            "spark.ui.enabled": False,
            "spark.ui.showConsoleProgress": False,
            "spark.driver.memory": "2g",
            "spark.databricks.delta.snapshotPartitions": 1,
            "spark.sql.adaptive.enabled": False,  # as the demo's conf/local
        },
    }
}


def write_project(root: Path, shape: Shape, package: str = "features", file_per_hour: bool = False) -> Path:
    """The project directory of a shape under ``root``, its conf, features package and every period delivered."""
    project = root / f"{shape.cadence}_project"
    (project / "conf" / "base").mkdir(parents=True, exist_ok=True)
    (project / "conf" / "local").mkdir(exist_ok=True)
    for file, content in conf(shape, package).items():
        (project / "conf" / "base" / file).write_text(yaml.safe_dump(content, sort_keys=False))
    (project / "conf" / "local" / "spark.yaml").write_text(yaml.safe_dump(SPARK_LOCAL))
    (project / package).mkdir(exist_ok=True)
    (project / package / "__init__.py").write_text("")
    (project / package / "labels.py").write_text(textwrap.dedent(FEATURES["labels.py"]).lstrip())
    code = textwrap.dedent(HEADER).lstrip() + "\n\n" + textwrap.dedent(GROUP_CODE[shape.name]).lstrip()
    (project / package / f"{GROUPS[shape.name]}.py").write_text(code)
    if package != "features":  # a suite of its own, for its feature table
        suites = project / f"{package}_expectations"
        suites.mkdir(exist_ok=True)
        table = f"features.{GROUPS[shape.name]}"
        expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": FEATURE[shape.name]}}
        (suites / f"{table}.json").write_text(json.dumps({"name": table, "expectations": [expectation]}))
    deliver(project / "lakehouse" / "landing", shape, ROWS[shape.name](shape), file_per_hour)
    return project


# A suite of the project beside, which a cadence project must never apply: it asks for a column it does not have.
FOREIGN_SUITE = {
    "name": "a suite of the project beside",
    "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "not_a_column_of_this_project"}}],
}


def beside_another_project(project: Path, demo: Path) -> None:
    """Another project in the same directory, as two pipelines of one repository are: the demo's ``features``
    package and ``expectations``, the latter with a suite for this project's feature table that would fail it.
    A project that names its own package (``write_project(package=...)``) must see neither."""
    shutil.copytree(demo / "features", project / "features", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "expectations").mkdir()
    for group in GROUPS.values():
        (project / "expectations" / f"features.{group}.json").write_text(json.dumps(FOREIGN_SUITE))
