"""Build the zstd dictionary of stored events: ``python -m bench.dictionary`` (a dev tool; the relay only reads it).

The dictionary is trained on events made from provider callback shapes (``bench/fixtures/dictionary/``: bodies as
each provider documents them, their varying parts as placeholders) filled with random ids, URLs and prompts, and
stored exactly as ``relay.store.packing`` stores an event (meta, request line and headers, body). The memory
section's bodies (``bench/fixtures/1k/``) are not among them, so its figures are not trained on the data measured.

A shipped dictionary never changes: stored events name the one they were packed with. A new one gets the next
number in ``relay/store/packing.py`` and this script's ``--version``.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import uuid

from backports import zstd

from bench.harness import FIXTURES_DIR, ROOT
from relay.events import RequestInfo, build_event, parse_json
from relay.providers import build_providers
from relay.store.packing import frame

SAMPLES_DIR = FIXTURES_DIR / "dictionary"
WORDS = (
    "a cinematic photo of an old lighthouse on a cliff at dusk storm waves volumetric light portrait of a woman in "
    "a red coat walking through neon rain tokyo street night reflections watercolor fox in a snowy forest product "
    "shot of a perfume bottle on black marble studio lighting drone flight over mountains at sunrise mist valleys "
    "cyberpunk city skyline flying cars isometric cozy cabin interior fireplace ultra detailed 8k highly detailed "
    "anime style oil painting of a ship in a storm close up macro photography dewdrops on a leaf vintage poster"
).split()
MODELS = ("google/nano-banana", "google/nano-banana-edit", "flux-kontext-pro", "gpt-4o-image", "veo3_fast", "V4_5")
HOSTS = ("relay.example.com", "hooks.acme.io", "webhooks.studio.dev")
USER_AGENTS = (
    "Go-http-client/2.0",
    "python-requests/2.32.3",
    "axios/1.7.7",
    "Java-http-client/17.0.2",
    "okhttp/4.12.0",
)
PROVIDER_OF = {"kie": "kie", "ttapi": "ttapi", "acedata": "acedata", "replicate": "replicate", "generic": "generic"}


def _fill(template: str, rng: random.Random, token: str, host: str) -> str:
    def prompt() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(6, 30)))

    replacements = {
        "@@HEX32@@": lambda: f"{rng.getrandbits(128):032x}",
        "@@HEX8@@": lambda: f"{rng.getrandbits(32):08x}",
        "@@UUID@@": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "@@NUM@@": lambda: str(rng.randrange(10**6, 10**13)),
        "@@MS@@": lambda: str(1_760_000_000_000 + rng.randrange(10**10)),
        "@@PROMPT@@": prompt,
        "@@WORD@@": lambda: rng.choice(WORDS) + f"{rng.getrandbits(24):06x}",
        "@@MODEL@@": lambda: rng.choice(MODELS),
        "@@STATUS@@": lambda: rng.choice(("queued", "processing", "succeeded", "failed")),
        "@@STATUS_UPPER@@": lambda: rng.choice(("ON_QUEUE", "PROCESSING", "SUCCESS", "FAILED")),
        "@@PROGRESS@@": lambda: str(rng.choice((0, 25, 50, 75, 100))),
        "@@TOKEN@@": lambda: token,
        "@@HOST@@": lambda: host,
    }
    return re.sub("@@[A-Z0-9_]+@@", lambda m: replacements[m.group(0)](), template)


def samples(count: int, seed: int = 1) -> list[bytes]:
    """``count`` stored events (framed, uncompressed) from the templates, filled at random."""
    rng = random.Random(seed)
    providers = build_providers()
    templates = sorted(SAMPLES_DIR.glob("*.json"))
    out = []
    for index in range(count):
        path = templates[index % len(templates)]
        provider = PROVIDER_OF[path.stem.split("-")[0]]
        token = base64.urlsafe_b64encode(rng.randbytes(rng.choice((30, 45)))).decode().rstrip("=")
        host = rng.choice(HOSTS)
        body = _fill(path.read_text(), rng, token, host).encode()
        is_json, payload = parse_json(body)
        headers = [
            ("host", host),
            ("user-agent", rng.choice(USER_AGENTS)),
            ("content-length", str(len(body))),
            ("content-type", "application/json"),
            ("accept-encoding", "gzip"),
            ("x-forwarded-for", ".".join(str(rng.randrange(1, 255)) for _ in range(4))),
            ("x-forwarded-proto", "https"),
        ]
        event = build_event(
            provider=provider,
            tag=rng.choice((None, None, "prod", "user-42")),
            update=providers[provider].parse(payload) if is_json else None,
            body=body,
            is_json=is_json,
            request=RequestInfo("POST", f"/hooks/{provider}/{token}", "", headers, "application/json"),
            now_s=1_760_000_000 + rng.random() * 10**7,
            partitions=16,
        )
        out.append(frame(event.meta, event.request, event.body_format, event.body))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dictionary", description=__doc__)
    parser.add_argument("--version", type=int, default=1, help="the dictionary's number")
    parser.add_argument("--size", type=int, default=16 * 1024, help="bytes")
    parser.add_argument("--samples", type=int, default=4000)
    args = parser.parse_args()
    trained = zstd.train_dict(samples(args.samples), args.size)
    out = ROOT / "relay" / "store" / "dictionaries" / f"events-{args.version}.zdict"
    out.write_bytes(trained.dict_content)
    print(f"wrote {out.relative_to(ROOT)}: {len(trained.dict_content)} bytes, dict id {trained.dict_id}")


if __name__ == "__main__":
    main()
