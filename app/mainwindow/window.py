"""The main window: Calls log with filters, summary strip, detail sheet and CSV export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, QItemSelection, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.mainwindow.detail import DetailSheet
from app.mainwindow.model import CallsModel, fmt_duration
from app.mainwindow.source import CallLogSource
from app.session.errors import user_error
from app.session.model import ErrorKind
from crmclient.models import CallDirection, CallFilter, CallRecord, CallStatus

RANGES = ("Today", "7 days", "30 days", "All time", "Custom")
_ANSWERED = (CallStatus.COMPLETED, CallStatus.IN_PROGRESS, CallStatus.ON_HOLD)
STATUS_FILTERS: dict[str, tuple[CallStatus, ...]] = {
    "Any status": (),
    "Answered": (CallStatus.COMPLETED,),
    "Missed": (CallStatus.MISSED,),
    "Not answered": (CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.REJECTED),
    "Failed": (CallStatus.FAILED,),
}


class MainWindow(QMainWindow):
    #: Call back from the detail sheet: (number, chat id or "").
    call_back_requested = Signal(str, str)
    #: The agent wants the settings window.
    settings_requested = Signal()
    #: The agent wants the floating dialer.
    dialer_requested = Signal()

    def __init__(
        self,
        source: CallLogSource,
        *,
        sees_all: bool = False,
        agents: dict[str, str] | None = None,
        display_number: Callable[[str], str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lodgestory Phone: Calls")
        self.setObjectName("mainWindow")
        self.resize(1180, 720)
        self._source = source
        self._agents = dict(agents or {})
        self._sees_all = sees_all
        self.model = CallsModel(source, agent_names=lambda a: self._agents.get(a, a))
        if display_number is not None:
            self.model.display_number = display_number
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.apply_filters)

        central = QWidget()
        outer = QVBoxLayout(central)
        # Filters.
        bar = QHBoxLayout()
        self.direction = QComboBox()
        self.direction.addItems(["All directions", "Inbound", "Outbound", "Internal"])
        self.status = QComboBox()
        self.status.addItems(list(STATUS_FILTERS))
        self.agent = QComboBox()
        self.agent.addItem("All agents", None)
        for agent_id, name in sorted(self._agents.items(), key=lambda kv: kv[1]):
            self.agent.addItem(name, agent_id)
        self.agent.setVisible(sees_all)
        self.range = QComboBox()
        self.range.addItems(list(RANGES))
        self.range.setCurrentText("30 days")
        self.since = QDateEdit(QDate.currentDate().addDays(-30))
        self.until = QDateEdit(QDate.currentDate())
        for d in (self.since, self.until):
            d.setCalendarPopup(True)
            d.setVisible(False)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search number or guest")
        self.search.setClearButtonEnabled(True)
        self.live = QCheckBox("Live")
        self.live.setToolTip("Only calls in progress now")
        self.export = QPushButton("Export CSV…")
        self.export.clicked.connect(self._export)
        self.refresh = QPushButton("Refresh")
        self.refresh.clicked.connect(self.model.reload)
        self.open_dialer = QPushButton("Dialer")
        self.open_dialer.clicked.connect(self.dialer_requested)
        self.open_settings = QPushButton("Settings")
        self.open_settings.clicked.connect(self.settings_requested)
        for w in (self.direction, self.status, self.agent, self.range, self.since, self.until):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        for w2 in (self.live, self.refresh, self.export, self.open_dialer, self.open_settings):
            bar.addWidget(w2)
        outer.addLayout(bar)
        # Summary strip.
        self.summary = QLabel("")
        self.summary.setObjectName("summaryStrip")
        self.summary.setStyleSheet(
            "padding: 6px; border-radius: 4px; background: palette(alternate-base);"
        )
        outer.addWidget(self.summary)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("color: #b71c1c; padding: 4px;")
        self.banner.setVisible(False)
        outer.addWidget(self.banner)
        # Table and detail.
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate((30, 150, 150, 90, 140, 70, 90, 80)):
            self.table.setColumnWidth(col, width)
        self.detail = DetailSheet(source, agent_name=lambda a: self._agents.get(a, a))
        self.detail.call_back_requested.connect(self.call_back_requested)
        self.detail.contact_created.connect(lambda _cid: self.model.reload())
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        outer.addWidget(split, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Loading calls…")

        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.table.doubleClicked.connect(lambda _i: self.detail._call_back())
        self.model.loaded.connect(self._loaded)
        self.model.failed.connect(self._failed)
        self.model.rowsInserted.connect(lambda *_a: self._update_summary())
        for combo in (self.direction, self.status, self.agent):
            combo.currentIndexChanged.connect(self.apply_filters)
        self.range.currentIndexChanged.connect(self._range_changed)
        self.since.dateChanged.connect(self.apply_filters)
        self.until.dateChanged.connect(self.apply_filters)
        self.live.toggled.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._debounce.start())

    # -------------------------------------------------------------- filters
    def current_filter(self) -> CallFilter:
        direction = {
            1: CallDirection.INBOUND,
            2: CallDirection.OUTBOUND,
            3: CallDirection.INTERNAL,
        }.get(self.direction.currentIndex())
        statuses = STATUS_FILTERS[self.status.currentText()]
        now = datetime.now().astimezone()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since: datetime | None = None
        until: datetime | None = None
        rng = self.range.currentText()
        if rng == "Today":
            since = midnight
        elif rng == "7 days":
            since = midnight - timedelta(days=6)
        elif rng == "30 days":
            since = midnight - timedelta(days=29)
        elif rng == "Custom":
            since = _date(self.since.date())
            until = _date(self.until.date()) + timedelta(days=1)
        text = self.search.text().strip() or None
        agent = self.agent.currentData() if self._sees_all else None
        return CallFilter(
            direction=direction,
            statuses=statuses,
            agent_id=agent,
            since=since,
            until=until,
            text=text,
            live=True if self.live.isChecked() else None,
        )

    def apply_filters(self) -> None:
        self.statusBar().showMessage("Loading calls…")
        self.model.set_filter(self.current_filter())

    def _range_changed(self) -> None:
        custom = self.range.currentText() == "Custom"
        self.since.setVisible(custom)
        self.until.setVisible(custom)
        self.apply_filters()

    # -------------------------------------------------------------- results
    def _loaded(self, total: int) -> None:
        self.banner.setVisible(False)
        shown = self.model.rowCount()
        self.statusBar().showMessage(f"{total} calls ({shown} loaded)")
        self._update_summary()

    def _failed(self, detail: str) -> None:
        err = user_error(ErrorKind.CALL_LOGS_FAILED, detail)
        self.banner.setText(f"<b>{err.message}</b>. {err.what_to_do}")
        self.banner.setVisible(True)
        self.statusBar().showMessage(err.message)

    def _update_summary(self) -> None:
        rows = self.model.records()
        total = self.model.total
        if not rows:
            self.summary.setText("No calls in this range.")
            return
        answered = [r for r in rows if r.status in _ANSWERED]
        durations = [r.duration_s for r in answered if r.duration_s is not None]
        share = 100.0 * len(answered) / len(rows)
        avg = fmt_duration(int(sum(durations) / len(durations))) if durations else "n/a"
        partial = "" if len(rows) >= total else f" (over the {len(rows)} loaded)"
        text = (
            f"<b>{total}</b> calls · <b>{share:.0f}%</b> answered · average <b>{avg}</b>{partial}"
        )
        if self._sees_all and not self.agent.currentData():
            per: dict[str, list[CallRecord]] = {}
            for r in rows:
                per.setdefault(r.agent_id, []).append(r)
            parts = []
            for agent_id, calls in sorted(per.items(), key=lambda kv: -len(kv[1]))[:4]:
                ans = sum(1 for c in calls if c.status in _ANSWERED)
                name = self._agents.get(agent_id, agent_id)
                parts.append(f"{name}: {len(calls)} ({100 * ans // len(calls)}%)")
            text += " &nbsp;|&nbsp; " + " · ".join(parts)
        self.summary.setText(text)

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        self.detail.show_record(self.model.record(indexes[0].row()) if indexes else None)

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def call_changed(self, record: CallRecord) -> None:
        """Real-time refresh: the CRM (or our session) changed a call."""
        self.model.upsert(record)
        self._update_summary()

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export calls", "calls.csv", "CSV (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, dest: Path) -> None:
        def ok(rows: int) -> None:
            self.statusBar().showMessage(f"Exported {rows} calls to {dest}")

        def err(exc: BaseException) -> None:
            self.statusBar().showMessage(f"Export failed: {exc}")

        self._source.export_csv(self.current_filter(), dest, ok, err)


def _date(d: QDate) -> datetime:
    return datetime(d.year(), d.month(), d.day()).astimezone()
