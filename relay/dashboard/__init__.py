"""The web dashboard at ``/dashboard``: pages, live fragments and actions behind a login (see ``routes.py``).

It reads through the stores and changes data through :mod:`relay.actions`, like the admin API; it imports no
route modules, and nothing outside it imports it except ``relay.routes`` (which lists its routes).
"""
