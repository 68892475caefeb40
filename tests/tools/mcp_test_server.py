"""The demo order desk as a stdio MCP server with test-only misbehaviour, run as a real subprocess by the tests.

--noisy     writes a line that is not JSON-RPC on stdout (the protocol channel) and one on stderr, first
--slow      every tool call takes 5 s
--stubborn  outlives its client: after stdin closes it ignores SIGTERM and sleeps a minute (bounded, so a
            failing test never leaves it behind for long); only SIGKILL ends it
"""

import signal
import sys
import time

from workbench.tools.demo_server import build_server

if "--noisy" in sys.argv:
    print("not json-rpc: hello from the noisy server", flush=True)
    print("noisy server: a line on stderr", file=sys.stderr, flush=True)
build_server(latency_ms=5000 if "--slow" in sys.argv else 0).run("stdio")
if "--stubborn" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
