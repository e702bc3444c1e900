"""The vocabulary as PromQL, and Prometheus' answers as the readings' data."""

from __future__ import annotations

import math

import pytest

from kubefoundry.cluster import prometheus
from kubefoundry.metrics import promql

WHERE = promql.selector(namespace="ml", name="qwen")


def test_the_selector_takes_the_deployments_pods_in_its_namespace() -> None:
    assert WHERE == 'namespace="ml",pod=~"qwen-.+"'


def test_a_level_is_the_sum_of_each_servers_gauge_first_found_first() -> None:
    running = promql.queries(WHERE)["running"]
    assert running.startswith(f"(sum(vllm:num_requests_running{{{WHERE}}})) or ")
    assert f"(sum(sglang:num_running_reqs{{{WHERE}}}))" in running
    assert f"(sum(tgi_batch_current_size{{{WHERE}}}))" in running


def test_kv_usage_is_a_mean_and_vllms_old_name_is_asked_after_the_new() -> None:
    kv = promql.queries(WHERE)["kv_usage"]
    new = kv.index("avg(vllm:kv_cache_usage_perc{")
    old = kv.index("avg(vllm:gpu_cache_usage_perc{")
    assert new < old


def test_a_counter_is_a_rate_under_its_name_with_and_without_total() -> None:
    out = promql.queries(WHERE)["output_tps"]
    assert out.startswith(
        f"(sum(rate(vllm:generation_tokens_total{{{WHERE}}}[1m]))) or "
        f"(sum(rate(vllm:generation_tokens{{{WHERE}}}[1m])))"
    )
    # TGI's tokens come from a histogram's _sum, a counter too.
    assert f"sum(rate(tgi_request_generated_tokens_sum{{{WHERE}}}[1m]))" in out


def test_a_source_limited_to_some_series_keeps_its_label_matcher() -> None:
    errors = promql.queries(WHERE)["errors_per_s"]
    assert f'vllm:request_success_total{{{WHERE},finished_reason=~"abort|error"}}' in errors


def test_a_latency_percentile_is_histogram_quantile_of_the_summed_bucket_rates() -> None:
    q = promql.queries(WHERE)
    assert q["ttft.p99"].startswith(
        "(histogram_quantile(0.99, sum by (le) "
        f"(rate(vllm:time_to_first_token_seconds_bucket{{{WHERE}}}[1m]))))"
    )
    assert set(q) >= {"ttft.p50", "ttft.p90", "itl.p50", "e2e.p99"}


def test_pods_are_counted_by_any_servers_running_gauge() -> None:
    pods = promql.queries(WHERE)["pods"]
    assert pods.startswith('count(count by (pod) ({__name__=~"')
    assert "vllm:num_requests_running" in pods
    assert "tgi_batch_current_size" in pods
    assert pods.endswith(f",{WHERE}}}))")


def test_answers_become_points_in_the_readings_shape() -> None:
    answers = {
        "running": [(100.0, 7.0), (115.0, 0.0)],
        "output_tps": [(115.0, 42.5)],
        "pods": [(100.0, 1.0), (115.0, 3.0)],
        "ttft.p50": [(100.0, math.nan), (115.0, 0.041)],  # NaN: no observation yet
        "ttft.p99": [(115.0, 0.2)],
    }
    first, second = promql.points(answers, step_s=15)
    assert (first["at"], first["interval_s"], first["pods"], first["running"]) == (100, 15, 1, 7)
    assert first["output_tps"] is None
    assert first["ttft"] is None  # NaN and missing alike
    assert (second["running"], second["output_tps"], second["pods"]) == (0.0, 42.5, 3)
    assert second["ttft"] == {"p50": 0.041, "p90": None, "p99": 0.2}
    assert second["e2e"] is None
    assert set(first) >= {"waiting", "kv_usage", "prompt_tps", "requests_per_s", "itl"}


def test_a_matrix_of_one_series_is_read_and_anything_else_refused() -> None:
    one = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "2.5"]]}]},
    }
    assert promql.matrix(one) == [(1.0, 2.5)]
    empty = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    assert promql.matrix(empty) == []
    with pytest.raises(ValueError, match="parse error"):
        promql.matrix({"status": "error", "errorType": "bad_data", "error": "parse error"})
    with pytest.raises(ValueError, match="vector"):
        promql.matrix({"status": "success", "data": {"resultType": "vector", "result": []}})


@pytest.mark.parametrize(
    ("url", "service", "path"),
    [
        (
            "http://prometheus-operated.monitoring.svc:9090",
            ("monitoring", "prometheus-operated", 9090),
            "",
        ),
        ("https://prom.obs.svc.cluster.local/prom/", ("obs", "prom", 443), "/prom"),
        ("http://127.0.0.1:30090", None, ""),
        ("https://prometheus.example.com", None, ""),
    ],
)
def test_a_service_url_goes_through_the_api_server_any_other_directly(
    url: str, service: tuple[str, str, int] | None, path: str
) -> None:
    where = prometheus.Where.of(url)
    assert (where.service, where.path) == (service, path)
    assert where.how == ("through the API server's service proxy" if service else "directly")


def test_replica_seconds_sum_the_pods_samples_each_counted_for_its_resolution() -> None:
    assert promql.replica_seconds("count(x)", seconds=3600.4, resolution_s=15) == (
        "sum_over_time((count(x))[3600s:15s]) * 15"
    )


def test_a_prometheus_that_does_not_answer_or_is_not_prometheus_is_said_so() -> None:
    import http.server
    import socket
    import threading

    from kubefoundry.core.errors import PermanentError, RetryableError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    silent = prometheus.Where.of(f"http://127.0.0.1:{closed}")
    with pytest.raises(RetryableError, match="did not answer") as caught:
        prometheus.query_range(None, silent, "up", start=0, end=1, step_s=1)  # type: ignore[arg-type]
    assert "serving.prometheus" in (caught.value.hint or "")

    class NotPrometheus(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>a login page</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotPrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        where = prometheus.Where.of(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(PermanentError, match="not Prometheus' API"):
            prometheus.query_range(None, where, "up", start=0, end=1, step_s=1)  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
