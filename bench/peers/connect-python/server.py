"""The connect-python peer of the benchmark: PingService as an ASGI app (connectrpc) served by
Hypercorn in this one process (HTTP/1.1 and h2c with prior knowledge on one port).

    bench/.venv/bin/python bench/peers/connect-python/server.py --port 8080
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "gen"))

import types  # noqa: E402
from http import HTTPStatus  # noqa: E402

import h11  # noqa: E402
import hypercorn.protocol.h11 as hypercorn_h11  # noqa: E402
from hypercorn.asyncio import serve  # noqa: E402


def _with_reason_phrase() -> None:
    """Hypercorn sends HTTP/1.1 status lines without a reason phrase ("HTTP/1.1 200 "), which
    h2load's HTTP/1.1 parser does not report as a status; fill in the standard phrase."""

    def response(**kwargs):
        if not kwargs.get("reason"):
            try:
                kwargs["reason"] = HTTPStatus(kwargs["status_code"]).phrase.encode()
            except ValueError:
                pass
        return h11.Response(**kwargs)

    proxy = types.SimpleNamespace(**{k: getattr(h11, k) for k in dir(h11) if not k.startswith("__")})
    proxy.Response = response
    hypercorn_h11.h11 = proxy


_with_reason_phrase()
from hypercorn.config import Config  # noqa: E402
from connectrpc.code import Code  # noqa: E402
from connectrpc.errors import ConnectError  # noqa: E402

from bench.v1.ping_connect import PingServiceASGIApplication  # noqa: E402
from bench.v1.ping_pb import CountUpResponse, CumSumResponse, PingResponse, SumResponse  # noqa: E402


class Ping:
    async def ping(self, request, ctx):
        if request.number < 0:
            raise ConnectError(Code.INVALID_ARGUMENT, "number must not be negative")
        return PingResponse(number=request.number, text=request.text)

    async def sum(self, requests, ctx):
        total = 0
        async for r in requests:
            total += r.number
        return SumResponse(number=total)

    async def count_up(self, request, ctx):
        for i in range(1, request.number + 1):
            yield CountUpResponse(number=i, text=request.text)

    async def cum_sum(self, requests, ctx):
        total = 0
        async for r in requests:
            total += r.number
            yield CumSumResponse(number=total, text=r.text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.keep_alive_timeout = 120
    config.h2_max_concurrent_streams = 1000
    app = PingServiceASGIApplication(Ping(), read_max_bytes=16 * 1024 * 1024)
    print(f"listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
