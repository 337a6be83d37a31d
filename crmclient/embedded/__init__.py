"""The embedded CRM: the ``CrmBackend`` contract on local SQLite, the default without a CRM."""

from crmclient.embedded.crm import LOCAL_USER, EmbeddedCrm

__all__ = ["LOCAL_USER", "EmbeddedCrm"]
