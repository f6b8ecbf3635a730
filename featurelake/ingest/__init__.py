"""The ingest stages: landing zone -> bronze (ingest) -> silver (refine), and the demo data."""
