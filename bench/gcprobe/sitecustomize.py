"""The garbage collector's work in a server process, for `bench/chat_collector.py` (never the product).

With this directory on `PYTHONPATH` and `BENCH_GC_PROBE` set, every process that starts adds a
`gc.callbacks` hook that counts, per generation: collections, their CPU and wall time, the
objects they freed and the longest one. SIGUSR2 writes the counters and the process's CPU time to
`$BENCH_GC_PROBE.<pid>` (JSON); the longest collection is the longest since the previous write.
"""

import gc
import json
import os
import signal
import time

_prefix = os.environ.get("BENCH_GC_PROBE")

if _prefix:
    # per generation: collections, wall seconds, CPU seconds, objects freed, longest wall seconds
    _counters = {generation: [0, 0.0, 0.0, 0, 0.0] for generation in (0, 1, 2)}
    _started = [0.0, 0.0]

    def _callback(phase: str, info: dict) -> None:
        if phase == "start":
            _started[0], _started[1] = time.perf_counter(), time.thread_time()
            return
        wall = time.perf_counter() - _started[0]
        counters = _counters[info["generation"]]
        counters[0] += 1
        counters[1] += wall
        counters[2] += time.thread_time() - _started[1]
        counters[3] += info["collected"]
        counters[4] = max(counters[4], wall)

    def _write(signum: int, frame: object) -> None:
        state = {"generations": _counters, "cpu": time.process_time()}
        path = f"{_prefix}.{os.getpid()}"
        with open(f"{path}.part", "w") as out:
            json.dump(state, out)
        os.replace(f"{path}.part", path)  # whole, for the reader
        for counters in _counters.values():
            counters[4] = 0.0

    gc.callbacks.append(_callback)
    signal.signal(signal.SIGUSR2, _write)
