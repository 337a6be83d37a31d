"""CRM client, embedded CRM, local store and outbox. Never imports QtWidgets."""
