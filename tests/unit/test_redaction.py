"""One redaction for every line the engine prints: URI passwords and the environment's secret values."""

import io

from featurelake.core.redaction import redact, redacting, secret_values


def test_a_uri_keeps_its_user_and_host_and_loses_its_password():
    text = "MLflow (http://alice:s3cret@mlflow.internal:5000/api) did not answer"
    assert redact(text, []) == "MLflow (http://alice:***@mlflow.internal:5000/api) did not answer"
    assert redact("s3a://bucket/path and file:///tmp/x", []) == "s3a://bucket/path and file:///tmp/x"


def test_the_values_of_secret_variables_are_hidden_wherever_they_appear(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")
    monkeypatch.setenv("FEATURELAKE_FLAG", "true")
    assert {"wJalrXUtnFEMI", "tok-123456"} <= set(secret_values())
    assert redact("key wJalrXUtnFEMI and tok-123456 and true") == "key *** and *** and true"


def test_a_redacting_stream_hides_secrets_line_by_line(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    sink = io.StringIO()
    stream = redacting(sink)
    stream.write("connecting with hunter2")
    stream.write("hunter2 now\nnext ")
    stream.flush()
    assert sink.getvalue() == "connecting with *** now\nnext "
