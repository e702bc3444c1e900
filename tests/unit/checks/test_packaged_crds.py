"""The CRDs ship as package data: identical to shared/crds, read without a checkout beside."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from tests.conftest import SHARED

from kubefoundry.checks import schemas

REPO = Path(__file__).resolve().parents[3]
SHARED_CRDS = SHARED / "crds"
PACKAGED = schemas.packaged_crds()  # a folder on disk in a checkout or an unpacked wheel


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.skipif(not SHARED_CRDS.is_dir(), reason="no shared/crds beside the repository")
def test_packaged_crds_are_byte_for_byte_copies_of_shared_crds() -> None:
    packaged, shared = _tree(Path(str(PACKAGED))), _tree(SHARED_CRDS)
    assert sorted(packaged) == sorted(shared), "copy shared/crds over checks/data/crds"
    drifted = [name for name in shared if packaged[name] != shared[name]]
    assert not drifted, f"differ from shared/crds: {drifted}"


def test_the_default_is_the_packaged_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(schemas.CRDS_ENV, raising=False)
    assert schemas.default_crd_dirs() == [PACKAGED]
    loaded = schemas.Schemas.load()
    ray = loaded.crd("ray.io/v1", "RayService")
    assert ray is not None
    assert ray.source == str(PACKAGED.joinpath("kuberay/rayservices.ray.io.yaml"))


def test_the_environment_replaces_the_packaged_copies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(schemas.CRDS_ENV, str(tmp_path))
    assert schemas.default_crd_dirs() == [tmp_path]
    assert schemas.Schemas.load().crd("ray.io/v1", "RayService") is None


def test_a_missing_folder_holds_no_crds(tmp_path: Path) -> None:
    assert list(schemas.yaml_files(tmp_path / "nowhere")) == []


_VALIDATE = textwrap.dedent(
    """
    import kubefoundry
    from kubefoundry.checks.schemas import Schemas

    print(kubefoundry.__file__)
    ok = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
          "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [{"type": "cpu", "metadata": {}}]}}
    bad = dict(ok, spec=dict(ok["spec"], minReplicaCount="two"))
    loaded = Schemas.load()
    print(loaded.validate(ok), loaded.validate(bad))
    """
)


def test_an_installed_wheel_validates_custom_resources_on_its_own(tmp_path: Path) -> None:
    """Build the wheel, unpack it where no checkout is near, and validate a custom resource."""
    env = {k: v for k, v in os.environ.items() if k != schemas.CRDS_ENV}
    env |= {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    build = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*build, "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, env=env
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("kubefoundry-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        prefix = "kubefoundry/checks/data/crds/"
        shipped = {n.removeprefix(prefix) for n in archive.namelist() if n.startswith(prefix)}
        assert shipped == set(_tree(Path(str(PACKAGED))))
        archive.extractall(tmp_path / "site")
    done = subprocess.run(
        [sys.executable, "-c", _VALIDATE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(tmp_path / "site")},
    )
    assert done.returncode == 0, done.stderr
    where, verdicts = done.stdout.splitlines()
    assert Path(where).is_relative_to(tmp_path / "site")
    assert verdicts == (
        "[] [SchemaError(path='spec.minReplicaCount', message=\"'two' is not of type 'integer'\")]"
    )
