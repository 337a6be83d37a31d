"""The Calls table: CRM pages of 100 behind a QAbstractTableModel with fetch-more.

Rows are ``CallRecord``s exactly as the CRM returned them; the model only formats. A
filter change drops the rows and asks for the first page again; answers to an older
filter are ignored (``_generation``). Live updates replace a row in place when its call
is loaded, or put a new call on top when it matches the current filter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QIcon

from app import theme
from app.mainwindow.look import status_tone
from app.mainwindow.source import CallLogSource
from crmclient.models import CallDirection, CallFilter, CallPage, CallRecord, CallStatus

COLUMNS = ("", "Number", "Guest", "Agent", "Start", "Duration", "Status", "Recording")
ARROWS = {CallDirection.INBOUND: "↙", CallDirection.OUTBOUND: "↗", CallDirection.INTERNAL: "↔"}
#: Shipped icon for each direction; a missed inbound call gets the missed-call icon.
DIRECTION_ICONS = {
    CallDirection.INBOUND: "call-incoming",
    CallDirection.OUTBOUND: "call-outgoing",
    CallDirection.INTERNAL: "team",
}
STATUS_TEXT = {
    CallStatus.DIALING: "Dialing",
    CallStatus.RINGING: "Ringing",
    CallStatus.IN_PROGRESS: "In call",
    CallStatus.ON_HOLD: "On hold",
    CallStatus.COMPLETED: "Answered",
    CallStatus.MISSED: "Missed",
    CallStatus.NO_ANSWER: "No answer",
    CallStatus.BUSY: "Busy",
    CallStatus.REJECTED: "Rejected",
    CallStatus.CANCELLED: "Cancelled",
    CallStatus.FAILED: "Failed",
}
_Index = QModelIndex | QPersistentModelIndex


def fmt_duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_time(when: datetime) -> str:
    local = when.astimezone()
    today = datetime.now().astimezone().date()
    if local.date() == today:
        return local.strftime("Today %H:%M")
    return local.strftime("%d %b %Y %H:%M")


class CallsModel(QAbstractTableModel):
    #: The first page for the current filter arrived (``total`` matching calls).
    loaded = Signal(int)
    #: Loading failed; the window shows "Failed to load call logs" with what to do.
    failed = Signal(str)

    def __init__(
        self,
        source: CallLogSource,
        agent_names: Callable[[str], str] | None = None,
        page_size: int = 100,
    ) -> None:
        super().__init__()
        self._source = source
        self._agent_names = agent_names or (lambda agent_id: agent_id)
        self._page_size = page_size
        self._rows: list[CallRecord] = []
        self._index: dict[str, int] = {}
        self._cursor: str | None = None
        self._loading = False
        self._generation = 0
        self.total = 0
        self.filter = CallFilter()
        self.display_number: Callable[[str], str] = lambda n: n

    # ---------------------------------------------------------------- loading
    def set_filter(self, flt: CallFilter) -> None:
        self.filter = flt
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._index = {}
        self._cursor = None
        self.total = 0
        self.endResetModel()
        self._load(None)

    def _load(self, cursor: str | None) -> None:
        self._loading = True
        gen = self._generation

        def ok(page: CallPage) -> None:
            if gen != self._generation:
                return
            self._loading = False
            self._append(page)
            if cursor is None:
                self.loaded.emit(page.total)

        def err(exc: BaseException) -> None:
            if gen != self._generation:
                return
            self._loading = False
            self.failed.emit(str(exc) or type(exc).__name__)

        self._source.page(self.filter, cursor, ok, err, self._page_size)

    def _append(self, page: CallPage) -> None:
        new = [r for r in page.items if r.id not in self._index]
        self.total = page.total
        self._cursor = page.next_cursor
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for r in new:
                self._index[r.id] = len(self._rows)
                self._rows.append(r)
            self.endInsertRows()

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._cursor is not None and not self._loading

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._load(self._cursor)

    @property
    def loading(self) -> bool:
        return self._loading

    def upsert(self, record: CallRecord) -> None:
        """A call changed in the CRM: update its row, or add it on top when it matches."""
        row = self._index.get(record.id)
        if row is not None:
            self._rows[row] = record
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            return
        if not _matches(self.filter, record):
            return
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, record)
        self._index = {r.id: i for i, r in enumerate(self._rows)}
        self.total += 1
        self.endInsertRows()

    # ---------------------------------------------------------------- table
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def record(self, row: int) -> CallRecord:
        return self._rows[row]

    def records(self) -> list[CallRecord]:
        return list(self._rows)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(r, col)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return direction_icon(r)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return r.direction.value.capitalize()
        if role == Qt.ItemDataRole.ForegroundRole and col == 6:
            return theme.current().qcolor(status_tone(r.status))
        if role == Qt.ItemDataRole.ForegroundRole and col in (3, 4, 5, 7):
            return theme.current().qcolor("text_muted")
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None

    def _text(self, r: CallRecord, col: int) -> str:
        if col == 0:
            return ""
        if col == 1:
            return self.display_number(r.remote_number)
        if col == 2:
            return r.guest_name or ""
        if col == 3:
            return self._agent_names(r.agent_id)
        if col == 4:
            return fmt_time(r.started_at)
        if col == 5:
            return fmt_duration(r.duration_s) if r.answered_at or r.duration_s else ""
        if col == 6:
            return STATUS_TEXT.get(r.status, r.status.value)
        if col == 7:
            return "Recorded" if r.has_recording else ""
        return ""


def direction_icon(r: CallRecord) -> QIcon:
    """Direction at a glance: green in, accent out, red for a missed inbound call."""
    from app.widgets.icons import icon

    p = theme.current()
    if r.direction is CallDirection.INBOUND and r.status is CallStatus.MISSED:
        return icon("call-missed", p.danger)
    color = p.success if r.direction is CallDirection.INBOUND else p.accent
    return icon(DIRECTION_ICONS.get(r.direction, "call"), color)


def _matches(flt: CallFilter, r: CallRecord) -> bool:
    if flt.direction is not None and r.direction is not flt.direction:
        return False
    if flt.statuses and r.status not in flt.statuses:
        return False
    if flt.agent_id is not None and r.agent_id != flt.agent_id:
        return False
    if flt.since is not None and r.started_at < flt.since:
        return False
    if flt.until is not None and r.started_at >= flt.until:
        return False
    if flt.live is not None and r.live is not flt.live:
        return False
    if flt.text:
        needle = flt.text.lower()
        return needle in r.remote_number.lower() or needle in (r.guest_name or "").lower()
    return True
