"""Which failures are the object store's own (refused credentials, a store that does not answer), as the CLI
turns them into one sentence (featurelake/lake/storage.py); the real ones are met in tests/integration/
test_object_store.py."""

from __future__ import annotations

import getpass

from featurelake.core.errors import EnvironmentProblem, FeaturelakeError
from featurelake.lake.storage import store_problem

LAKE = "s3a://bucket/lake"
ENDPOINT = "http://127.0.0.1:9000"
CUT_OFF = RuntimeError(
    "An error occurred while calling o1396.save.\n: java.net.ConnectException: Writing Object on "
    "lake/bronze/flights/_delta_log/00000000000000000001.json: software.amazon.awssdk.core.exception."
    "SdkClientException: Unable to execute HTTP request: Connect to 127.0.0.1:9000 failed: Connection refused"
)


def test_a_store_that_does_not_answer_is_a_sentence_naming_the_lake_and_the_endpoint():
    problem = store_problem(CUT_OFF, LAKE, ENDPOINT)
    assert isinstance(problem, EnvironmentProblem) and problem.exit_code == 2
    assert str(problem) == (
        f"The object store of the lake {LAKE} did not answer at {ENDPOINT}; check that it is up and reachable from "
        "here and that spark.hadoop.fs.s3a.endpoint in conf's spark settings names it, then run again: every table "
        "is still at its last committed version."
    )
    assert "did not answer;" in str(store_problem(CUT_OFF, LAKE, None))  # no endpoint in conf: AWS's own


def test_only_a_lake_on_a_store_and_only_the_jvm_s_client_make_it_the_store_s_fault():
    assert store_problem(CUT_OFF, "/data/lake", ENDPOINT) is None  # a local lake: not a store's
    assert store_problem(CUT_OFF, "file:///data/lake", ENDPOINT) is None
    tracking = ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=5000): Connection refused")  # MLflow's
    assert store_problem(tracking, LAKE, ENDPOINT) is None
    said = FeaturelakeError(
        "The tracking server at http://127.0.0.1:5000 did not answer (java.net: Connection refused)"
    )
    assert store_problem(said, LAKE, ENDPOINT) is None  # already a sentence: kept as it is


def test_refused_credentials_name_what_the_store_said():
    refused = RuntimeError("java.nio.file.AccessDeniedException: s3a://bucket/lake: SignatureDoesNotMatch")
    assert "(the secret does not match the access key)" in str(store_problem(refused, LAKE, ENDPOINT))


def test_a_refusal_the_lake_takes_writes_again_is_named_as_read_or_write_and_others_are_not_the_disk_s(tmp_path):
    """A failure whose text says the local disk refused access, in a directory that takes a probe's write: the
    refusal may have been a read (an unreadable delivery), so the sentence names both; other failures are not
    the disk's, nor are those of a lake on an object store."""
    from featurelake.lake.storage import disk_problem

    landing = tmp_path / "landing" / "flights" / "2013-01-01"
    landing.mkdir(parents=True)
    refused = RuntimeError(f"java.io.FileNotFoundException: {landing}/flights.csv (Permission denied)")
    problem = disk_problem(refused, str(tmp_path))
    assert isinstance(problem, EnvironmentProblem)
    assert str(problem).startswith(
        f"This process (user {getpass.getuser()}) may not read or write {landing} in the lake root {tmp_path} "
        "(Permission denied); allow it or point lake.root (FEATURELAKE_LAKE_ROOT) elsewhere, then run again"
    )
    assert disk_problem(RuntimeError("Division by zero"), str(tmp_path)) is None
    assert disk_problem(refused, LAKE) is None
