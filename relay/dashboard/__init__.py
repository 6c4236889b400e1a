"""The web dashboard at ``/dashboard``: pages, live fragments and actions behind a login (see ``routes.py``).

``relay.routes`` lists the dashboard's routes, and the pages call into ``relay.routes`` modules: load the pages
through ``relay.routes`` (as the app does). The leaf modules (``session``, ``queries``, ``chart``, ``tunnels``)
import no routes and can be imported from anywhere, e.g. ``tunnels.TunnelInfo`` by the tunnel feature.
"""
