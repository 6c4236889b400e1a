"""``python -m bench``: run the benchmark sections, save ``bench/results/<date>.json``, print markdown tables."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import assets, delivery, ingest, memory, scale, tasks, tunnel
from bench.harness import BENCH_DIR, ROOT, Options, SectionResult, machine

# A section is a module with NAME and run(options) -> SectionResult.
SECTIONS: dict[str, ModuleType] = {
    module.NAME: module for module in (ingest, delivery, tunnel, memory, scale, tasks, assets)
}
DOCS = "docs/benchmarks.md"
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def parse_args(argv: list[str]) -> tuple[list[str], Options, bool]:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("sections", nargs="*", choices=[[], *SECTIONS], default=[], help="default: all")
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds per wrk round")
    parser.add_argument("--warmup", type=float, default=defaults.warmup_s, help="seconds of wrk before measuring")
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="alternating rounds per comparison")
    parser.add_argument("--connections", type=int, default=defaults.connections, help="wrk connections")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="fixed offered rate, requests/s")
    parser.add_argument("--rate-duration", type=float, default=defaults.rate_duration_s, help="seconds at --rate")
    parser.add_argument(
        "--large-rate", type=float, default=defaults.large_rate, help="ingest: requests/s beside large bodies"
    )
    parser.add_argument("--backlog", type=int, default=defaults.delivery_backlog, help="delivery: stored callbacks")
    parser.add_argument("--e2e-rate", type=float, default=defaults.e2e_rate, help="delivery: callbacks/s for e2e")
    parser.add_argument("--e2e-duration", type=float, default=defaults.e2e_duration_s, help="delivery: seconds")
    parser.add_argument(
        "--memory-backlog", type=int, default=defaults.memory_backlog, help="memory: undelivered events"
    )
    parser.add_argument(
        "--memory-subscriptions", type=int, default=defaults.memory_subscriptions, help="memory: subscribers (down)"
    )
    parser.add_argument(
        "--baseline", type=Path, default=None, help="a checkout of the relay before, run side by side (ingest, memory)"
    )
    parser.add_argument("--tasks-open", type=int, default=defaults.tasks_open, help="tasks: open tasks in Redis")
    parser.add_argument("--tasks-polls", type=int, default=defaults.tasks_polls, help="tasks: polls measured")
    parser.add_argument("--assets-small", type=int, default=defaults.assets_small, help="assets: 1 MB files")
    parser.add_argument("--assets-large", type=int, default=defaults.assets_large, help="assets: 500 MB files")
    parser.add_argument("--docs", action="store_true", help=f"write the tables into {DOCS}")
    args = parser.parse_args(argv)
    options = Options(
        duration_s=args.duration,
        warmup_s=args.warmup,
        rounds=args.rounds,
        connections=args.connections,
        rate=args.rate,
        rate_duration_s=args.rate_duration,
        large_rate=args.large_rate,
        delivery_backlog=args.backlog,
        e2e_rate=args.e2e_rate,
        e2e_duration_s=args.e2e_duration,
        memory_backlog=args.memory_backlog,
        memory_subscriptions=args.memory_subscriptions,
        baseline=args.baseline.resolve() if args.baseline else None,
        tasks_open=args.tasks_open,
        tasks_polls=args.tasks_polls,
        assets_small=args.assets_small,
        assets_large=args.assets_large,
    )
    return args.sections or list(SECTIONS), options, args.docs


def main(argv: list[str]) -> None:
    names, options, docs = parse_args(argv)
    started = datetime.now(UTC)
    facts = machine()
    results: dict[str, SectionResult] = {}
    out = BENCH_DIR / "results" / f"{started:%Y-%m-%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    for name in names:
        print(f"bench: running {name}", file=sys.stderr, flush=True)
        try:
            results[name] = SECTIONS[name].run(options)
        except Exception as exc:  # one failing section must not lose the others' figures
            print(f"bench: {name} failed: {exc!r}", file=sys.stderr, flush=True)
            results[name] = SectionResult(data={"error": repr(exc)}, markdown=f"**{name}**: failed ({exc!r})")
        # Saved after every section: a long run cut short keeps what it measured.
        markdown = _save(out, started, facts, options, results)
    print(markdown)
    print(f"\nbench: saved {out.relative_to(ROOT)}", file=sys.stderr)
    if docs:
        write_docs(markdown)


def _save(
    out: Path, started: datetime, facts: dict[str, Any], options: Options, results: dict[str, SectionResult]
) -> str:
    header = (
        f"{started:%Y-%m-%d}, {facts['cores']} cores ({facts['cpu']}), Python {facts['python']}, "
        f"uvicorn {facts['uvicorn']}, "
        f"load average {facts['loadavg_1m_at_start']} at start"
    )
    markdown = "\n\n".join([header, *(result.markdown for result in results.values())])
    record = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": facts,
        "options": {**options.__dict__, "baseline": str(options.baseline) if options.baseline else None},
        "sections": {name: result.data for name, result in results.items()},
        "markdown": markdown,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    return markdown


def write_docs(markdown: str) -> None:
    path = ROOT / DOCS
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOCS} has no {README_START} ... {README_END} block")
    path.write_text(pattern.sub(lambda _: f"{README_START}\n{markdown}\n{README_END}", text))


if __name__ == "__main__":
    main(sys.argv[1:])
