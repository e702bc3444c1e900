"""The real ``kubefoundry`` command against the real API server: deploy, ls, status, delete,
cluster — with kubectl's flags, data output and no prompts without a terminal."""

from __future__ import annotations

import json

from tests.cli.test_cli import run
from tests.support import cli, controlplane

from kubefoundry.core import naming
from kubefoundry.deploy import phases


def kf(plane: controlplane.ControlPlane, *args: str) -> tuple[int, str, str]:
    result = run(*args, "--kubeconfig", str(plane.kubeconfig))
    return result.returncode, result.stdout, result.stderr


def test_deploy_ls_status_delete(control_plane: controlplane.ControlPlane, namespace: str) -> None:
    code, _, err = kf(
        control_plane, "deploy", "qwen2.5-7b", "-n", namespace, "--no-wait", "--monitoring", "none"
    )
    assert code == 0, err
    assert "Deployed qwen2-5-7b-instruct" in err
    assert "Deployment/qwen2-5-7b-instruct created" in err
    code, out, err = kf(control_plane, "ls", "-n", namespace, "-o", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["name"], row["runtime"], row["model"]) == (
        "qwen2-5-7b-instruct",
        "vllm",
        "Qwen/Qwen2.5-7B-Instruct",
    )
    code, out, err = kf(
        control_plane, "status", "qwen2-5-7b-instruct", "-n", namespace, "-o", "json"
    )
    assert code == 0, err
    # The sandbox's scheduler and kwok may already have it up: any phase but failed.
    status = json.loads(out)
    assert status["phase"] in {p.code for p in phases.Phase} - {"failed"}
    assert status["message"]
    code, _, err = kf(
        control_plane, "deploy", "qwen2.5-7b", "-n", namespace, "--no-wait", "--monitoring", "none"
    )
    assert code == 0, err
    assert "created" not in err  # the same request again changes nothing
    assert "unchanged" in err
    code, _, err = kf(control_plane, "delete", "qwen2-5-7b-instruct", "-n", namespace)
    assert code == 0, err  # no terminal on stdin: no prompt
    assert "Deployment/qwen2-5-7b-instruct" in err
    deleted = err.count("  deleted ")
    assert f"Deleted qwen2-5-7b-instruct ({naming.counted(deleted, 'object')})" in err
    code, out, _ = kf(control_plane, "ls", "-n", namespace, "-o", "json")
    assert json.loads(out) == []


def test_cluster_command_reports_each_operators_state(
    control_plane: controlplane.ControlPlane,
) -> None:
    """The sandbox has Dynamo's CRDs but no Dynamo operator: installed, CRDs only, said
    with what to install; the planner may not pick it (not in installed_runtimes)."""
    code, out, err = kf(control_plane, "cluster", "-o", "json")
    assert code == 0, err
    facts = json.loads(out)
    dynamo = facts["operators"]["dynamo"]
    assert dynamo["state"] == "crds-only"
    assert dynamo["version"] == "v1beta1"
    assert "install the dynamo-platform Helm chart" in dynamo["fix"]
    assert "dynamo" not in facts["installed_runtimes"]
    assert facts["unreadable"] == []
    # On an 80-column terminal every operator's evidence and fix is whole (folded, never cut
    # with an ellipsis: the label or Lease to look for is the point of the column).
    narrow = cli.kubefoundry("cluster", "--kubeconfig", str(control_plane.kubeconfig), columns=80)
    assert narrow.returncode == 0, narrow.stderr
    table = narrow.stdout[narrow.stdout.index("Operators") :]
    assert "…" not in table.split("Prometheus")[0], table
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    seen = "".join(line.split("│")[-2] for line in table.splitlines() if "│" in line)
    assert "installthedynamo-platformHelmchart" in "".join(seen.split())  # whole, if folded


def test_status_of_an_unknown_deployment_is_a_clear_error(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    for command in ("status", "logs", "delete"):
        code, _, err = kf(control_plane, command, "nope", "-n", namespace)
        assert code == 2, err
        assert "Unknown deployment 'nope'" in err
        assert f"Namespace {namespace}" in " ".join(err.split())
        assert "Traceback" not in err


def test_a_missing_kubeconfig_says_how_to_get_one(tmp_path: object) -> None:
    result = run("ls", "--kubeconfig", "/nonexistent/kubeconfig")
    assert result.returncode == 2
    assert "sandbox up" in result.stderr
