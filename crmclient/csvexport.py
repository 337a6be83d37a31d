"""The call-log CSV: one column list and one cell rule, so an export from the embedded CRM
and one from a server are interchangeable files."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from crmclient.models import format_time

CSV_COLUMNS: Final = (
    "id",
    "started_at",
    "direction",
    "status",
    "mode",
    "agent_id",
    "agent_name",
    "remote_number",
    "local_number",
    "guest_name",
    "contact_id",
    "chat_id",
    "answered_at",
    "ended_at",
    "duration_s",
    "answered_by",
    "hangup_cause",
    "outcome",
    "notes",
    "has_recording",
)
_FREE_TEXT: Final = frozenset({"guest_name", "agent_name", "outcome", "notes"})


def csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value.value if hasattr(value, "value") else value)
    # Spreadsheets run cells starting with these as formulas; numbers stay machine-readable.
    if column in _FREE_TEXT and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text
