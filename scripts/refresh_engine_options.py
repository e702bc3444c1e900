"""Refresh the engines' accepted options, the data the engine-flag tests check renders with.

Each engine version's options are read from that version's own published source, never
typed by hand, and written to ``src/kubefoundry/runtimes/data/engines/<engine>-<version>.json``
with where they came from (URL, SHA-256, the files read) and the date:

    python scripts/refresh_engine_options.py vllm 0.19.0 0.34.0
    python scripts/refresh_engine_options.py tgi 3.3.7 --launcher PATH/launcher/src/main.rs \\
        --source-url https://github.com/huggingface/text-generation-inference/blob/v3.3.7/launcher/src/main.rs

vLLM: the sdist is downloaded from PyPI (its simple index, JSON form; SHA-256 checked) and
``vllm serve``'s parser is read with ``ast`` (``engine_options/vllm_source.py``): importing
vLLM needs torch and CUDA, and CI installs neither. TGI's launcher is not on PyPI: pass its
``launcher/src/main.rs`` from a checkout at the release's tag. This script is not on the
import path; KubeFoundry reads only the JSON files.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from engine_options import tgi_source, vllm_source
from engine_options.options import Option

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "src" / "kubefoundry" / "runtimes" / "data" / "engines"
SCHEMA_VERSION = 1
PYPI_SIMPLE = "https://pypi.org/simple/{project}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="engine", required=True)
    vllm = sub.add_parser("vllm", help="vllm serve's flags, from the PyPI sdist")
    vllm.add_argument("versions", nargs="+")
    vllm.add_argument("--sdist", type=Path, help="a downloaded vllm-<version>.tar.gz")
    tgi = sub.add_parser("tgi", help="text-generation-launcher's options, from main.rs")
    tgi.add_argument("version")
    tgi.add_argument("--launcher", type=Path, required=True, help="launcher/src/main.rs")
    tgi.add_argument("--source-url", required=True, help="where that file is published")
    tgi.add_argument("--commit", default="", help="the commit the release tag points at")
    args = parser.parse_args(argv)
    if args.engine == "vllm":
        for version in args.versions:
            _write(_vllm(version, args.sdist))
    else:
        _write(_tgi(args.version, args.launcher, url=args.source_url, commit=args.commit))
    return 0


def _vllm(version: str, sdist: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vllm-src-") as tmp:
        if sdist is None:
            url, digest = _pypi_sdist("vllm", version)
            sdist = Path(tmp) / url.rsplit("/", 1)[-1]
            _download(url, sdist, sha256=digest)
        else:
            url, digest = str(sdist), hashlib.sha256(sdist.read_bytes()).hexdigest()
        root = _unpack(sdist, Path(tmp) / "src", member=f"vllm-{version}/vllm/")
        options, files = vllm_source.serve_options(root / f"vllm-{version}" / "vllm")
    return _document(
        engine="vllm",
        version=version,
        program="vllm serve",
        source={"url": url, "sha256": digest, "files": files},
        method=(
            "vllm serve's parser (make_arg_parser, FrontendArgs and EngineArgs.add_cli_args, "
            "the serve subcommand) read from the sdist with Python's ast, as get_kwargs "
            "builds it: bool fields give --x and --no-x, a Literal without str its choices"
        ),
        options=options,
    )


def _tgi(version: str, launcher: Path, *, url: str, commit: str) -> dict[str, Any]:
    text = launcher.read_text(encoding="utf-8")
    options, environment = tgi_source.launcher_options(text)
    source = {
        "url": url,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "files": ["launcher/src/main.rs"],
    }
    if commit:
        source["commit"] = commit
    document = _document(
        engine="tgi",
        version=version,
        program="text-generation-launcher",
        source=source,
        method=(
            "the launcher's clap struct Args read as text: long flags in kebab-case, env "
            "variables in upper case, ValueEnum variants as choices; environment lists the "
            "variables main.rs reads with env::var outside its options"
        ),
        options=options,
    )
    document["environment"] = environment
    return document


def _document(
    *,
    engine: str,
    version: str,
    program: str,
    source: dict[str, Any],
    method: str,
    options: dict[str, Option],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "engine": engine,
        "version": version,
        "program": program,
        "obtained": datetime.date.today().isoformat(),
        "source": source,
        "method": method,
        "options": {name: options[name].as_json() for name in sorted(options)},
    }


def _write(document: dict[str, Any]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"{document['engine']}-{document['version']}.json"
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{path.relative_to(REPO)}: {len(document['options'])} options")


def _pypi_sdist(project: str, version: str) -> tuple[str, str]:
    """(URL, SHA-256) of ``project``'s sdist for ``version``, from PyPI's JSON simple index."""
    request = urllib.request.Request(
        PYPI_SIMPLE.format(project=project),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        index = json.load(response)
    wanted = f"{project}-{version}.tar.gz"
    for entry in index["files"]:
        if entry["filename"] == wanted:
            return str(entry["url"]), str(entry["hashes"]["sha256"])
    raise SystemExit(f"PyPI has no {wanted}")


def _download(url: str, to: Path, *, sha256: str) -> None:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600) as response, to.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise SystemExit(f"{url}: SHA-256 {digest.hexdigest()}, the index says {sha256}")


def _unpack(sdist: Path, to: Path, *, member: str) -> Path:
    """The ``.py`` files under ``member`` only (the sdist's C++ and tests are not needed)."""
    with tarfile.open(sdist) as archive:
        wanted = [
            m for m in archive.getmembers() if m.name.startswith(member) and m.name.endswith(".py")
        ]
        archive.extractall(to, members=wanted, filter="data")
    return to


if __name__ == "__main__":
    sys.exit(main())
