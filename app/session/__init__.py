"""The agent's session: engine events become CRM records, chat cards and UI state."""
