"""Copies of the files events point to, made before the providers' links expire (``RELAY_ASSETS=on``).

records.py    the state of one event's copies (pure)
backends.py   where copies go: the data dir, or object storage (obstore), content-addressed by SHA-256
download.py   one streamed, guarded, bounded download to a temporary file
links.py      stable links to copies: signed expiring /assets/ links, or presigned object-storage URLs
copier.py     the worker's loop: jobs from Redis, bounded concurrency per host, retries, retention
service.py    what the app, the dispatcher and the routes use: rendering, waiting, retrying
"""
