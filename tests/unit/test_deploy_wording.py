"""What ``status``, ``logs``, ``delete`` and ``deploy`` say: stable phase codes for machines,
counts in the singular, unknown deployments with close matches, the licence check offline.

The cluster layer is replaced where a command would read the cluster (``inspecting.roots``,
``inspecting.pods``, ``deploying.delete``, ``secrets.ensure_token``); the wording around
it is what is tested. The same commands against a real API server are in
``tests/integration/test_cli_cluster.py``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubefoundry.catalog import hub, models
from kubefoundry.cli import cluster_cmds
from kubefoundry.cluster import errors, inspecting, secrets
from kubefoundry.core import identity, naming
from kubefoundry.core.errors import InvalidInputError, NotFoundError, RetryableError
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import deploying, phases, rendering
from kubefoundry.runtimes import base

# ----------------------------------------------------------------------------- phases


def test_phase_codes_are_a_stable_snake_case_enum() -> None:
    codes = {p: p.code for p in phases.Phase}
    assert codes == {
        phases.Phase.FAILED: "failed",
        phases.Phase.WAITING: "waiting_for_operator",
        phases.Phase.SCHEDULING: "scheduling",
        phases.Phase.PULLING: "pulling_image",
        phases.Phase.DOWNLOADING: "downloading_model",
        phases.Phase.LOADING: "loading_model",
        phases.Phase.READY: "ready",
    }
    for phase, code in codes.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code)
        assert phases.Phase.from_code(code) is phase
    with pytest.raises(ValueError, match="unknown phase"):
        phases.Phase.from_code("pulling image")


@pytest.mark.parametrize(
    ("phase", "terminal", "failed"),
    [
        (p, p in (phases.Phase.READY, phases.Phase.FAILED), p is phases.Phase.FAILED)
        for p in phases.Phase
    ],
)
def test_phases_classify_themselves(phase: phases.Phase, terminal: bool, failed: bool) -> None:
    assert (phase.is_terminal, phase.is_failed) == (terminal, failed)


def test_status_data_has_the_code_and_the_prose_apart() -> None:
    progress = phases.Progress(phases.Phase.PULLING, 'Pulling image "vllm/vllm-openai"', 0, 2)
    data = json.loads(json.dumps(progress.to_dict()))
    assert data == {
        "phase": "pulling_image",
        "message": 'Pulling image "vllm/vllm-openai"',
        "ready": 0,
        "wanted": 2,
    }


# ----------------------------------------------------------------------------- counts


@pytest.mark.parametrize(
    ("count", "noun", "plural", "words"),
    [
        (0, "object", None, "0 objects"),
        (1, "object", None, "1 object"),
        (2, "object", None, "2 objects"),
        (1, "replica", None, "1 replica"),
        (3, "GPU", None, "3 GPUs"),
        (2, "policy", "policies", "2 policies"),
    ],
)
def test_counted(count: int, noun: str, plural: str | None, words: str) -> None:
    assert naming.counted(count, noun, plural) == words


@pytest.mark.parametrize(("n", "words"), [(1, "1 field is managed"), (2, "2 fields are managed")])
def test_conflicts_count_fields_in_the_singular_too(n: int, words: str) -> None:
    causes = [
        {"reason": "FieldManagerConflict", "field": f".spec.f{i}", "message": 'conflict with "x"'}
        for i in range(n)
    ]
    exc = ApiException(status=409, reason="Conflict")
    exc.body = json.dumps({"details": {"causes": causes}})
    err = errors.translate(exc, verb="apply", kind="Deployment", name="m")
    assert words in err.message


# ----------------------------------------------------------------------------- not found


@pytest.mark.parametrize(
    ("here", "elsewhere", "suggested", "hint"),
    [
        (["llama-3-1-8b", "qwen"], [], ("llama-3-1-8b",), "Namespace team-a has 2 deployments"),
        (["qwen"], [], (), "Namespace team-a has 1 deployment: qwen."),
        ([], ["prod"], (), "prod has: use `namespace` prod."),
        ([], [], (), "Namespace team-a has no KubeFoundry deployments"),
    ],
)
def test_an_unknown_deployment_names_close_matches_and_where_to_look(
    here: list[str], elsewhere: list[str], suggested: tuple[str, ...], hint: str
) -> None:
    err = deploying.missing("llama-3.1-8b", namespace="team-a", here=here, elsewhere=elsewhere)
    assert isinstance(err, NotFoundError)
    assert err.suggestions == suggested
    assert err.message.startswith("Unknown deployment 'llama-3.1-8b'.")
    assert hint in (err.hint or "")


def root(name: str, namespace: str = "team-a") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {identity.DEPLOYMENT: name},
            "annotations": {identity.ROOT: "true"},
        },
    }


class Conn:
    """Stands in for a connection: the commands only read ``namespace`` from it."""

    namespace = "team-a"


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Deployments and pods the commands see, by namespace (None: every namespace)."""
    state: dict[str, Any] = {"roots": [root("qwen"), root("llama", "prod")], "pods": []}

    def roots(_: Any, __: Any, *, namespace: str | None, **___: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in state["roots"]
            if namespace is None or r["metadata"]["namespace"] == namespace
        ]

    monkeypatch.setattr(inspecting, "roots", roots)
    monkeypatch.setattr(inspecting, "pods", lambda *_, **__: state["pods"])
    monkeypatch.setattr(cluster_cmds, "_connect", lambda *_: Conn())
    return state


def test_logs_of_an_unknown_deployment_says_it_does_not_exist(cluster: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError) as caught:
        cluster_cmds.logs("qwne")
    assert caught.value.message == "Unknown deployment 'qwne'. Did you mean: qwen?"
    with pytest.raises(NotFoundError) as caught:
        cluster_cmds.logs("llama")
    assert "use `namespace` prod" in (caught.value.hint or "")


def test_logs_of_a_deployment_without_pods_says_no_pods_yet(cluster: dict[str, Any]) -> None:
    with pytest.raises(
        InvalidInputError, match="Deployment 'qwen' in namespace team-a has no pods"
    ):
        cluster_cmds.logs("qwen")


@pytest.mark.parametrize(("n", "words"), [(1, "(1 object)"), (3, "(3 objects)")])
def test_delete_counts_objects(
    cluster: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    n: int,
    words: str,
) -> None:
    deleted = [f"Service/qwen-{i}" for i in range(n)]
    monkeypatch.setattr(deploying, "delete", lambda *_, **__: deleted)
    cluster_cmds.delete("qwen", yes=True)
    assert f"Deleted qwen {words}" in capsys.readouterr().err


# ----------------------------------------------------------------------------- licence check


@pytest.fixture
def gated() -> rendering.Result:
    request = DeploymentSpec.model_validate({"model": "llama-3.1-8b", "namespace": "team-a"})
    entry = models.ModelCatalog.load().get("llama-3.1-8b")
    assert entry.gated
    return rendering.render(request, entry, options=base.Options())


def test_offline_by_request_deploys_with_a_warning_instead_of_the_licence_check(
    gated: rendering.Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrote: list[str] = []
    monkeypatch.setattr(
        secrets, "ensure_token", lambda *_, name, **__: wrote.append(name) or "created"
    )
    warnings: list[str] = []
    said = deploying._token(
        gated,
        conn=Conn(),  # type: ignore[arg-type]
        namespace="team-a",
        token="hf_not_a_real_token",
        reach=hub.Reach(offline=True),
        warnings=warnings,
    )
    assert said is not None
    assert said.startswith("created Secret")
    assert len(wrote) == 1
    (warning,) = warnings
    assert "was not checked (HF_HUB_OFFLINE=1)" in warning


def test_an_unreachable_hub_stops_deploy_at_the_licence_check_before_writing(
    gated: rendering.Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrote: list[str] = []
    monkeypatch.setattr(secrets, "ensure_token", lambda *_, **__: wrote.append("x") or "created")
    with pytest.raises(RetryableError, match="the licence check"):
        deploying._token(
            gated,
            conn=Conn(),  # type: ignore[arg-type]
            namespace="team-a",
            token="hf_not_a_real_token",
            reach=hub.Reach(unreachable="connection refused"),
            warnings=[],
        )
    assert wrote == []


@pytest.mark.parametrize(
    ("runtime", "extra", "key"),
    [
        ("vllm", {}, "token"),
        ("kaito", {"cloud": "azure"}, "HF_TOKEN"),  # KAITO's controller reads HF_TOKEN
    ],
)
def test_the_secret_is_created_under_the_key_the_rendered_objects_read(
    runtime: str, extra: dict[str, str], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = DeploymentSpec.model_validate(
        {"model": "llama-3.1-8b", "namespace": "team-a", "runtime": runtime, **extra}
    )
    entry = models.ModelCatalog.load().get("llama-3.1-8b")
    result = rendering.render(request, entry, options=base.Options())
    assert result.rendered.token is not None
    assert result.rendered.token.key == key
    created: list[tuple[str, str]] = []
    monkeypatch.setattr(
        secrets,
        "ensure_token",
        lambda *_, name, key, **__: created.append((name, key)) or "created",
    )
    said = deploying._token(
        result,
        conn=Conn(),  # type: ignore[arg-type]
        namespace="team-a",
        token="hf_not_a_real_token",
        reach=hub.Reach(offline=True),
        warnings=[],
    )
    assert created == [(result.rendered.token.secret, key)]
    assert said == f"created Secret {result.rendered.token.secret} (key {key})"
