"""The lake: the catalog of Delta tables by logical name, stamped commits, files on any Hadoop file system,
quarantine, the run ledger, and the context every stage step runs against."""
