"""Monitoring of a scored model: drift, realized quality, anomalies, the drift report."""
