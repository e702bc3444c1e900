"""``kubefoundry chat NAME [PROMPT]``: one request to a deployment's model, the answer streamed
as it comes, then its time to first token and tokens per second (``deploy/inference``).

The prompt is the argument, else standard input (``echo hi | kubefoundry chat NAME``). The
answer goes to stdout; the endpoint and the figures to stderr, so ``> file`` keeps the text.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kubefoundry.cli import output, requesting


def chat(
    name: Annotated[str, typer.Argument(help="Deployment name (see `kubefoundry ls`).")],
    prompt: Annotated[
        str | None, typer.Argument(help="What to ask; standard input when left out.")
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="A system message before the prompt.")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, max=32768, help="Most tokens to generate.")
    ] = 256,
    namespace: requesting.Namespace = None,
    kubeconfig: requesting.Kubeconfig = None,
    context: requesting.Context = None,
) -> None:
    """Ask a deployment's model; stream the answer with its TTFT and tokens/s."""
    from kubefoundry.core.errors import InvalidInputError
    from kubefoundry.deploy import deploying, inference

    text = prompt if prompt is not None else ("" if sys.stdin.isatty() else sys.stdin.read())
    if not text.strip():
        raise InvalidInputError(
            "Nothing to ask: the prompt is empty.",
            hint=f'Give it as an argument: kubefoundry chat {name} "Hello", or on stdin.',
        )
    conn = requesting.connect(kubeconfig, context, namespace)
    deploying.find(conn, name=name, namespace=conn.namespace)  # an unknown name: close matches
    where = inference.endpoint(conn, name=name, namespace=conn.namespace)
    err = output.stderr()
    err.print(f"{where.model} · pod {where.pod}:{where.port}", style="dim", highlight=False)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    for item in inference.chat(conn, where, messages, max_tokens=max_tokens):
        if isinstance(item, inference.Delta):
            sys.stdout.write(item.text)
            sys.stdout.flush()
        else:
            sys.stdout.write("\n")
            err.print(_figures(item), style="dim", highlight=False)


def _figures(stats: object) -> str:
    from kubefoundry.deploy.inference import Stats

    assert isinstance(stats, Stats)
    parts = []
    if stats.ttft_s is not None:
        parts.append(f"TTFT {stats.ttft_s * 1000:,.0f} ms")
    parts.append(f"{stats.output_tokens} tokens in {stats.duration_s:.2f} s")
    rate = stats.decode_tokens_per_s
    if rate is not None:
        parts.append(f"{rate:,.1f} tok/s after the first")
    return " · ".join(parts)
