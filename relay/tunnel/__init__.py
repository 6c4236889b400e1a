"""The local tunnel: channels buffer matching events, an SSE stream replays them, ``relay tunnel`` forwards them."""
