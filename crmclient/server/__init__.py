"""The reference CRM server: the whole contract of docs/crm-api.md on SQLite.

In-process (tests, the demo)::

    with start_server(ServerConfig(db_path=Path("crm.db"), simulate=True)) as crm:
        ...  # crm.base_url, crm.ws_url

or ``python -m crmclient.server --db crm.db --port 8765``.
"""

from __future__ import annotations

from crmclient.server.app import create_app
from crmclient.server.config import ServerConfig
from crmclient.server.runner import RunningServer, start_server

__all__ = ["RunningServer", "ServerConfig", "create_app", "start_server"]
