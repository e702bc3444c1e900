"""Write the deployment spec's JSON Schema to docs/deployment-spec.schema.json.

    .venv/bin/python scripts/spec_schema.py           # rewrite the file
    .venv/bin/python scripts/spec_schema.py --check   # exit 1 when it is stale

The schema is ``kubefoundry.core.spec.DeploymentSpec``'s, as pydantic writes it: the fields
of a ``-f`` file, the REST API's body and the future ``ModelDeployment`` resource. A test
runs ``--check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kubefoundry.core import spec

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment-spec.schema.json"


def text() -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **spec.schema()}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    args = parser.parse_args()
    if args.check:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text():
            print(f"{DOC} is stale: run scripts/spec_schema.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
