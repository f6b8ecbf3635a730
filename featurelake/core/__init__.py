"""The engine's foundation: errors, run dates, configuration, the Spark session, stage summaries."""
