"""The engine's own columns: lineage every bronze and silver row carries, and the reasons of refused rows."""

# The run date whose slice a row belongs to: every daily table is partitioned by it.
RUN_DATE = "_run_date"
SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"
RUN_ID = "_run_id"
REASONS = "_reasons"
LINEAGE_COLUMNS = (SOURCE_FILE, INGESTED_AT, RUN_ID, RUN_DATE)
