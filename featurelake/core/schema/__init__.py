"""The schema of conf/*.yaml: pydantic models, strict (unknown keys refused) and frozen."""
