"""The command line words each fix as its flags: the real ``kubefoundry`` entry point.

The lower layers name spec fields (`` `gpu_count` 8 ``) and remedy codes; what a user reads
in the terminal is ``--gpu-count 8`` and ``--config FILE``.
"""

from __future__ import annotations

from tests.support import cli

from kubefoundry.cli import output
from kubefoundry.core.errors import Remedy


def test_a_misfit_offers_fixes_as_flags() -> None:
    done = cli.kubefoundry("plan", "llama-3.3-70b", "--gpu", "L4", "--gpu-count", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "To fix: Try: --gpu-count 8 (" in err
    assert "`" not in err  # every field the hint named became its flag


def test_a_name_that_is_no_model_offers_the_config_file() -> None:
    done = cli.kubefoundry("plan", "lama-3.1-8b")
    assert done.returncode == 2, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "Unknown model 'lama-3.1-8b'. Did you mean: llama-3.1-8b" in err
    assert f"To fix: {output.REMEDIES[Remedy.MODEL_CONFIG]} Use a catalog model's id" in err


def test_a_field_no_flag_sets_stays_a_field() -> None:
    assert output.flags("set `serving.token.remote_key` or `workload`") == (
        "set --token-path or `workload`"
    )
    assert output.flags("`hf_token_secret` and `namespace` prod") == (
        "--hf-token-secret and --namespace prod"
    )
