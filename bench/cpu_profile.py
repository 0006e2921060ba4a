"""Runs a module under cProfile counting CPU time (time.process_time), not wall time: in an
event loop a coroutine's awaits would otherwise count as its own time. Used by BENCH_PROFILE
(bench/service.py); stats are written when the module returns (on SIGINT for the service).

    python -m bench.cpu_profile out.prof app.cli serve
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    target, module, *argv = sys.argv[1:]
    sys.argv = [module, *argv]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(target)


if __name__ == "__main__":
    main()
