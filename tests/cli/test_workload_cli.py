"""``plan --workload …``: the traffic on the command line and in a request file (issue 9).

Bad workload input is a usage error naming the field, exit 2, no traceback; an unmeetable
latency target says the best any GPU reaches and on which; the JSON carries the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support import cli

PLAN = ["plan", "llama-3.1-8b", "--cloud", "aws"]


@pytest.mark.parametrize(
    ("flags", "names", "says"),
    [
        (["--input-tokens", "0"], "--input-tokens", "greater than or equal to 1"),
        (["--output-tokens", "-5"], "--output-tokens", "greater than or equal to 1"),
        (["--requests-per-second", "0"], "--requests-per-second", "0"),
        (["--concurrent-users", "0"], "--concurrent-users", "greater than or equal to 1"),
        (["--workload", "chatt"], "--workload", "chat"),
        (
            ["--requests-per-second", "5", "--concurrent-users", "3"],
            "workload",
            "requests_per_s or concurrent_users, not both",
        ),
        (
            ["--input-tokens", "4000", "--input-tokens-p90", "1000"],
            "workload.input_tokens_p90",
            "below the mean",
        ),
    ],
)
def test_bad_workload_input_exits_2_naming_the_field(
    flags: list[str], names: str, says: str
) -> None:
    done = cli.kubefoundry(*PLAN, *flags)
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr
    assert names in err, err
    assert says in err, err
    assert "Traceback" not in err


def test_an_unmeetable_target_reports_the_best_and_on_which_gpu() -> None:
    done = cli.kubefoundry(*PLAN, "--ttft-ms", "5")
    assert done.returncode == 2, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "No GPU option meets the latency target: ttft_ms 5: the fastest first token is" in err
    assert "with one request at a time" in err
    assert "Relax --ttft-ms" in err


def test_a_request_file_workload_plans_and_flags_override_it(tmp_path: Path) -> None:
    path = tmp_path / "request.yaml"
    path.write_text(
        "model: llama-3.1-8b\ncloud: aws\nworkload:\n  profile: rag\n  requests_per_s: 6\n"
        "  ttft_ms: 2500\n"
    )
    done = cli.kubefoundry("plan", "-f", str(path), "--output-tokens", "120", "-o", "json")
    assert done.returncode == 0, done.stderr
    perf = json.loads(done.stdout)["performance"]
    assert perf["workload"].startswith("rag: 4,000 tokens in, 120 out")
    assert "peak 6 requests/s" in perf["workload"]
    assert "TTFT ≤ 2,500 ms" in perf["targets"]
    assert perf["peak_requests_per_s"] == 6


def test_a_bad_workload_field_in_a_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "request.yaml"
    path.write_text("model: llama-3.1-8b\nworkload:\n  requests_per_second: 6\n")
    done = cli.kubefoundry("plan", "-f", str(path))
    assert done.returncode == 2
    assert "requests_per_second" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_json_plan_has_the_speed_replicas_nodes_and_token_prices() -> None:
    done = cli.kubefoundry(*PLAN, "--workload", "chat", "--requests-per-second", "10", "-o", "json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    perf, cost = plan["performance"], plan["cost"]
    for key in ("ttft_ms", "tpot_ms", "output_tokens_per_s", "replicas_needed", "limit"):
        assert key in perf
    for key in (
        "usd_per_million_input_tokens",
        "usd_per_million_output_tokens",
        "nodes",
        "idle_gpus",
        "instance_type",
    ):
        assert key in cost
    assert plan["replicas"] >= perf["replicas_needed"]


def test_the_table_names_the_workload_and_what_was_assumed() -> None:
    done = cli.kubefoundry(*PLAN, columns=100)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.replace("│", " ").split())
    assert "chat: 1,000 tokens in, 250 out" in text
    assert "assumed: input_tokens, output_tokens, peak load" in text
    assert "/1M input" in text
    assert "/1M output tokens" in text


def test_an_unmeetable_p95_target_names_the_closest_option() -> None:
    done = cli.kubefoundry(*PLAN, "--tpot-p95-ms", "0.5")
    assert done.returncode == 2, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "No GPU option meets the latency target" in err
    assert "TPOT p95" in err
