"""Run the benchmarks, one after the other, printing their figures.

    python -m bench                  # coverage, reporting import, exports, billing, steering, lists
    python -m bench coverage billing # some of them
    python -m bench load_test        # the gunicorn + PostgreSQL load test (not in the default set)

The steering, lists and load benchmarks need the local PostgreSQL (127.0.0.1:5432).
"""
import importlib
import sys
import time

DEFAULT = ["coverage", "reporting_import", "exports", "billing", "steering", "lists"]
MODULES = {"coverage": "bench.bench_coverage", "reporting_import": "bench.bench_reporting_import",
           "exports": "bench.bench_exports",
           "billing": "bench.bench_billing", "steering": "bench.bench_steering",
           "lists": "bench.bench_lists",
           "load_test": "bench.load_test"}


def main(argv):
    names = argv or DEFAULT
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {sorted(MODULES)}")
    for i, name in enumerate(names):
        print(f"\n=== {name}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(MODULES[name])
        if name == "lists" and "steering" in names[:i]:
            # a fresh copy of the market the steering benchmark has just built, then the
            # volume of the other lists
            module.main(["--template", "fcm_bench"])
        else:
            module.main([])
        print(f"=== {name}: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
