"""Membership: node views on the wire, versions, local resources and the peer table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ringrift_hpc.p2p.membership import (
    NodeView,
    PeerTable,
    Resources,
    code_version,
    config_version,
    gpu_count,
    incompatibility,
    local_resources,
    memory_mb,
)
from ringrift_hpc.p2p.wire import WireError

RES = Resources(cpus=8, gpus=1, memory_mb=32000, disk_mb=500000)


def view(node: str = "n1", **changes: object) -> NodeView:
    base = NodeView(
        node=node,
        url=f"http://127.0.0.1:80{node[-1]}0",
        eligible=True,
        resources=RES,
        running_jobs=("job-1",),
        code_version="0.1.0+aaaaaaaaaaaa",
        config_version="cccccccccccc",
        term=3,
        coordinator="n1",
        sent_at=1700000000.5,
    )
    return base.model_copy(update=changes)


def test_view_round_trip() -> None:
    for v in (view(), view(coordinator=None, running_jobs=(), eligible=False)):
        assert NodeView.from_json(v.to_json()) == v
    assert Resources.from_json(RES.to_json()) == RES


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("node", 7, "node view: field 'node' must be a non-empty string"),
        ("eligible", "yes", "field 'eligible' must be true or false"),
        ("running_jobs", ["a", 1], "field 'running_jobs' must be a list of non-empty strings"),
        ("term", -1, "field 'term' must be an integer >= 0"),
        ("coordinator", 3, "field 'coordinator' must be a non-empty string"),
        ("sent_at", "now", "field 'sent_at' must be a finite number"),
        ("resources", [], "field 'resources': expected a JSON object"),
        (
            "resources",
            {"cpus": 1, "gpus": 0, "memory_mb": 1},
            "field 'resources': field 'disk_mb' is missing",
        ),
        (
            "resources",
            {"cpus": -1, "gpus": 0, "memory_mb": 1, "disk_mb": 1},
            "field 'cpus' must be an integer",
        ),
    ],
)
def test_bad_view_names_the_field(field: str, value: object, expected: str) -> None:
    doc = view().to_json()
    doc[field] = value
    with pytest.raises(WireError, match=re.escape(expected)):
        NodeView.from_json(doc)


def test_views_of_another_wire_version_or_with_unknown_fields_are_refused() -> None:
    doc = view().to_json()
    assert doc["v"] == 1
    with pytest.raises(WireError, match=r"node view: field 'v' must be 1 \(the wire version.*got 2"):
        NodeView.from_json(doc | {"v": 2})
    with pytest.raises(WireError, match=r"node view: unknown field 'gpu' \(the fields are v, node, url,"):
        NodeView.from_json(doc | {"gpu": 1})
    del doc["v"]  # a peer of a release before wire versions
    assert NodeView.from_json(doc) == view()


def test_missing_view_field_is_named() -> None:
    doc = view().to_json()
    del doc["config_version"]
    with pytest.raises(WireError, match="node view: field 'config_version' is missing"):
        NodeView.from_json(doc)
    with pytest.raises(ValueError, match="expected a JSON object, got str"):
        NodeView.from_json("hello")


def test_liveness_goes_alive_suspect_dead_and_back() -> None:
    table = PeerTable([], suspect_after_s=5.0, dead_after_s=15.0)
    assert table.liveness("n1", 0.0) == "dead"  # never heard from
    table.heard(view(), 100.0)
    assert [table.liveness("n1", t) for t in (100.0, 104.9, 105.0, 114.9, 115.0)] == [
        "alive",
        "alive",
        "suspect",
        "suspect",
        "dead",
    ]
    table.heard(view(), 200.0)
    assert table.liveness("n1", 200.0) == "alive"


def test_an_older_view_counts_as_contact_but_does_not_replace_a_newer_one() -> None:
    table = PeerTable([], suspect_after_s=5.0, dead_after_s=15.0)
    table.heard(view(term=4, sent_at=20.0), 10.0)
    table.heard(view(term=3, sent_at=19.0), 30.0)
    assert table.view("n1") == view(term=4, sent_at=20.0)
    assert table.liveness("n1", 34.0) == "alive"


def test_urls_are_seeds_and_announced_urls() -> None:
    table = PeerTable(
        ["http://h1:8000", "http://h2:8000", "http://h1:8000"], suspect_after_s=1, dead_after_s=2
    )
    table.heard(view("n3", url="http://h3:8000"), 0.0)
    table.heard(view("n1", url="http://h1:8000"), 0.0)
    assert table.urls() == ["http://h1:8000", "http://h2:8000", "http://h3:8000"]


def test_peers_document_shows_liveness_versions_and_problems() -> None:
    table = PeerTable(["http://seed:1"], suspect_after_s=5.0, dead_after_s=15.0)
    table.heard(view("n1", coordinator="n1", term=3), 0.0)
    table.heard(view("n2", coordinator="n1", term=3, config_version="dddddddddddd"), 9.0)
    table.heard(view("n3", coordinator="n1", term=3), 1.0)
    rows = {row["node"]: row for row in table.peers(10.0)}
    assert rows["n1"]["liveness"] == "suspect" and rows["n1"]["problem"] == "not heard from for 10.0 s"
    assert rows["n2"]["liveness"] == "alive"
    assert "give every node the same run.yaml" in str(rows["n2"]["problem"])
    assert rows["n3"]["problem"] == "not heard from for 9.0 s"
    assert rows["n2"]["last_heard_s_ago"] == 1.0
    assert rows["n2"]["resources"] == RES.to_json() and rows["n2"]["running_jobs"] == ["job-1"]
    assert {"code_version", "config_version", "term", "coordinator", "eligible", "url"} <= rows["n2"].keys()
    assert rows[None]["url"] == "http://seed:1" and "never heard from" in str(rows[None]["problem"])
    # With the coordinator's own view given (it is not in its own table), n2 is judged against it.
    own = view("n9", config_version="dddddddddddd")
    rows = {row["node"]: row for row in table.peers(10.0, coordinator=own)}
    assert rows["n2"]["problem"] is None


def test_peer_table_timeouts_are_checked() -> None:
    with pytest.raises(ValueError, match="dead_after_s larger"):
        PeerTable([], suspect_after_s=5.0, dead_after_s=5.0)


def test_incompatibility_names_the_version_and_the_fix() -> None:
    coordinator = view("n1")
    assert incompatibility(view("n2"), coordinator) is None
    code = incompatibility(view("n2", code_version="0.1.0+bbbbbbbbbbbb"), coordinator)
    assert code is not None
    assert "code version 0.1.0+bbbbbbbbbbbb" in code and "coordinator's 0.1.0+aaaaaaaaaaaa" in code
    assert "install the same ringrift-hpc on every node" in code
    config = incompatibility(view("n2", config_version="eeeeeeeeeeee"), coordinator)
    assert config is not None and "config version eeeeeeeeeeee" in config and "run.yaml" in config


def test_versions(tmp_path: Path) -> None:
    version = code_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", version) and code_version() is version
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("version: 1\n")
    first = config_version(run_yaml)
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    run_yaml.write_text("version: 1\nrun:\n  root: /elsewhere\n")  # each node keeps its run where it likes
    assert config_version(run_yaml) == first
    run_yaml.write_text("version: 1\np2p:\n  lease_s: 12\n")
    assert config_version(run_yaml) != first


@pytest.mark.parametrize(
    ("visible", "count"),
    [("", 0), ("0,1", 2), ("0,-1,2", 1), ("GPU-8a1b,MIG-3c4d/1/0", 2), ("NoDevFiles", 0)],
)
def test_gpu_count_follows_cuda_visible_devices(tmp_path: Path, visible: str, count: int) -> None:
    assert gpu_count({"CUDA_VISIBLE_DEVICES": visible}, dev=tmp_path) == count


def test_gpu_count_from_device_files(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    assert gpu_count({}, dev=tmp_path) == 2
    assert gpu_count({}, dev=tmp_path / "missing") == 0


def test_memory_and_local_resources(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemFree:  1000 kB\nMemTotal:       16384000 kB\n")
    assert memory_mb(meminfo) == 16000
    assert memory_mb(tmp_path / "absent") > 0  # falls back to the page count
    local = local_resources(tmp_path)
    assert local.cpus >= 1 and local.gpus >= 0 and local.memory_mb > 0 and local.disk_mb > 0
