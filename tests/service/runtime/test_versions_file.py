"""versions.json: what parses, and every kind of file that is refused whole."""

import json

import pytest

from service.runtime.versions_file import (
    DEFAULT_TOLERANCE,
    ShadowSpec,
    VersionsFile,
    VersionsFileError,
    check_versions,
    parse_versions_file,
    read_versions_files,
)

ISSUE_EXAMPLE = {
    "version_labels": {"stable": 1, "canary": 2},
    "traffic": {"stable": 90, "canary": 10},
    "shadow": {"version_label": "canary", "percent": 20},
}


def parse(document: object) -> VersionsFile:
    return parse_versions_file(json.dumps(document).encode())


def test_the_issue_example_parses():
    config = parse_versions_file(json.dumps(ISSUE_EXAMPLE).encode())
    assert config.labels == {"stable": 1, "canary": 2}
    assert config.traffic == {"stable": 90.0, "canary": 10.0}
    assert config.shadow == ShadowSpec("canary", 20.0, DEFAULT_TOLERANCE)
    assert config.named_versions() == {1, 2}


def test_versions_as_traffic_keys_and_shadow_by_version():
    config = parse_versions_file(
        b'{"traffic": {"3": 1, "4": 0}, "shadow": {"version": 5, "tolerance": 0.1}}'
    )
    assert config.traffic == {3: 1.0, 4: 0.0}
    assert config.shadow == ShadowSpec(5, 100.0, 0.1)
    assert config.named_versions() == {3, 4, 5}
    assert parse_versions_file(b"{}").named_versions() == set()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "must be a JSON object"),
        ({"labels": {"a": 1}}, "unknown key 'labels'"),
        ({"version_labels": {"9lives": 1}}, "is not a name"),
        ({"version_labels": {"a-b": 1}}, "is not a name"),
        ({"version_labels": {"a": 0}}, "positive version"),
        ({"version_labels": {"a": "1"}}, "positive version"),
        ({"version_labels": {"a": True}}, "positive version"),
        ({"version_labels": {"a": 1}, "traffic": {"a": -1}}, "negative"),
        ({"version_labels": {"a": 1}, "traffic": {"a": 0}}, "weight 0"),
        ({"traffic": {}}, "weight 0"),
        ({"traffic": {"ghost": 1}}, "neither a label nor a version"),
        ({"traffic": {"1": "ten"}}, "must be a number"),
        ({"shadow": {"percent": 10}}, "exactly one of"),
        ({"shadow": {"version": 1, "version_label": "a"}}, "exactly one of"),
        ({"shadow": {"version_label": "ghost"}}, "not a label"),
        ({"shadow": {"version": 1, "percent": 101}}, "within 0-100"),
        ({"shadow": {"version": 1, "tolerance": -0.1}}, "must not be negative"),
        ({"shadow": {"version": 1, "sample": 3}}, "unknown key 'sample'"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(document, reason):
    with pytest.raises(VersionsFileError, match=reason):
        parse(document)


def test_not_json_and_too_large_are_refused():
    with pytest.raises(VersionsFileError, match="not valid JSON"):
        parse_versions_file(b'{"version_labels": ')
    with pytest.raises(VersionsFileError, match="bytes"):
        parse_versions_file(b" " * 70_000)


def test_named_versions_must_be_on_disk_and_not_failed():
    config = parse(ISSUE_EXAMPLE)
    states = {1: "AVAILABLE", 2: "LOADING"}
    check_versions(config, states.get)  # loading is fine: the label is pending
    with pytest.raises(VersionsFileError, match="version 2 is named but not on disk"):
        check_versions(config, {1: "AVAILABLE"}.get)
    with pytest.raises(VersionsFileError, match="version 2 is named but FAILED"):
        check_versions(config, {1: "AVAILABLE", 2: "FAILED"}.get)


def test_read_versions_files_finds_each_models_file(tmp_path):
    (tmp_path / "a" / "1").mkdir(parents=True)
    (tmp_path / "a" / "versions.json").write_text("{}")
    (tmp_path / "b").mkdir()
    (tmp_path / ".staging").mkdir()
    (tmp_path / ".staging" / "versions.json").write_text("{}")
    assert read_versions_files(tmp_path, None) == {"a": b"{}"}
    assert read_versions_files(tmp_path, ["b"]) == {}
    assert read_versions_files(tmp_path / "missing", None) == {}
