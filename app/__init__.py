"""The agent's desktop app: Qt UI and the agent session tying engine and CRM together."""
