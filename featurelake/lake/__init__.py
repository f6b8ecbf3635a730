"""The lake: Delta tables by logical name, files on any Hadoop file system, quarantine, the run ledger."""
