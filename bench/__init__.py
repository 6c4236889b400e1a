"""relay's benchmark suite: ``python -m bench [SECTION ...]``.

Each section is a module with ``NAME: str`` and ``run(options: Options) -> SectionResult`` (see
:mod:`bench.harness`), registered in ``bench.__main__.SECTIONS``. A section starts and stops everything it
measures (Redis, servers, load generators); the runner writes one JSON file per run to ``bench/results/`` and
prints (and with ``--docs`` writes into docs/benchmarks.md) a markdown table per section.
"""
