"""Great Expectations gates: suites, one-pass checks, anomalies, policies, Data Docs."""
