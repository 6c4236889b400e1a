"""The web dashboard at ``/dashboard``: pages, live fragments and actions behind a login (see ``routes.py``).

``relay.routes`` lists the dashboard's routes and the dashboard calls into ``relay.routes`` modules, so whichever
is imported first must load the other in that order: importing ``relay.routes`` here makes it always routes first.
"""

import relay.routes  # noqa: F401
