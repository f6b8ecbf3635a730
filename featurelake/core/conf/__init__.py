"""The models of conf/*.yaml (pydantic, strict: unknown keys refused; frozen). Spark schemas are the *_SCHEMA
constants of the modules that write those tables."""
