"""The main window: Calls log with filters, summary strip, detail sheet and CSV export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import (
    QDate,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.mainwindow import look
from app.mainwindow.detail import DetailSheet
from app.mainwindow.model import CallsModel, fmt_duration
from app.mainwindow.source import CallLogSource
from app.session.errors import user_error
from app.session.model import ErrorKind
from app.widgets.icons import icon, pixmap
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
        theme.ensure()  # the product look before any child is built
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
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        # Header bar: title, filters, search, actions.
        header_bar = QFrame()
        header_bar.setObjectName("headerBar")
        bar = QHBoxLayout(header_bar)
        bar.setContentsMargins(16, 10, 16, 10)
        bar.setSpacing(8)
        title = QLabel("Calls")
        title.setObjectName("pageTitle")
        bar.addWidget(title)
        bar.addSpacing(8)
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
        self.search.setObjectName("searchField")
        self.search.setPlaceholderText("Search number or guest")
        self.search.setClearButtonEnabled(True)
        self._search_action = self.search.addAction(
            icon("search"), QLineEdit.ActionPosition.LeadingPosition
        )
        self.live = QCheckBox("Live")
        self.live.setToolTip("Only calls in progress now")
        self.export = QPushButton("Export CSV…")
        self.export.setObjectName("secondaryButton")
        self.export.clicked.connect(self._export)
        self.refresh = QPushButton("Refresh")
        self.refresh.setObjectName("secondaryButton")
        self.refresh.clicked.connect(self.model.reload)
        self.open_dialer = QPushButton("Dialer")
        self.open_dialer.setObjectName("primaryButton")
        self.open_dialer.clicked.connect(self.dialer_requested)
        self.open_settings = QPushButton("Settings")
        self.open_settings.setObjectName("secondaryButton")
        self.open_settings.clicked.connect(self.settings_requested)
        for w in (self.direction, self.status, self.agent, self.range, self.since, self.until):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        for w2 in (self.live, self.refresh, self.export, self.open_dialer, self.open_settings):
            bar.addWidget(w2)
        outer.addWidget(header_bar)
        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(16, 12, 16, 12)
        body.setSpacing(10)
        outer.addWidget(content, 1)
        # Summary strip: a few figures for the filtered range, then per-agent shares.
        strip = QFrame()
        strip.setObjectName("summaryStrip")
        srow = QHBoxLayout(strip)
        srow.setContentsMargins(16, 8, 16, 8)
        srow.setSpacing(28)
        self.stats: dict[str, QLabel] = {}
        for key, caption in (
            ("calls", "CALLS"),
            ("answered", "ANSWERED"),
            ("average", "AVERAGE DURATION"),
        ):
            tile = QVBoxLayout()
            tile.setSpacing(0)
            value = QLabel("-")
            value.setObjectName("statValue")
            label = QLabel(caption)
            label.setObjectName("statLabel")
            tile.addWidget(value)
            tile.addWidget(label)
            srow.addLayout(tile)
            self.stats[key] = value
        self.summary = QLabel("")
        self.summary.setObjectName("summaryText")
        self.summary.setWordWrap(True)
        srow.addWidget(self.summary, 1)
        body.addWidget(strip)
        self.banner_frame = QFrame()
        self.banner_frame.setObjectName("errorBanner")
        brow = QHBoxLayout(self.banner_frame)
        brow.setContentsMargins(10, 6, 10, 6)
        self._banner_icon = QLabel()
        brow.addWidget(self._banner_icon)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        brow.addWidget(self.banner, 1)
        self.banner_frame.setVisible(False)
        body.addWidget(self.banner_frame)
        # Table (or the empty state) and the detail sheet.
        self.table = QTableView()
        self.table.setObjectName("callsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setIconSize(QSize(16, 16))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(34)
        self.table.setItemDelegateForColumn(6, StatusPillDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        for col, width in enumerate((40, 140, 140, 90, 140, 70, 100, 80)):
            self.table.setColumnWidth(col, width)
        list_card = QFrame()
        list_card.setObjectName("listCard")
        card = QVBoxLayout(list_card)
        card.setContentsMargins(1, 1, 1, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.table)
        self.empty = self._empty_state()
        self.pages.addWidget(self.empty)
        card.addWidget(self.pages)
        self.detail = DetailSheet(source, agent_name=lambda a: self._agents.get(a, a))
        self.detail.call_back_requested.connect(self.call_back_requested)
        self.detail.contact_created.connect(lambda _cid: self.model.reload())
        split = QSplitter()
        split.setHandleWidth(12)
        split.addWidget(list_card)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([820, 380])
        body.addWidget(split, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Loading calls…")
        look.follow(self, self._restyle)

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

    def _empty_state(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.addStretch(1)
        self._empty_icon = QLabel()
        self._empty_icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(self._empty_icon)
        title = QLabel("No calls match these filters")
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(title)
        text = QLabel("Try another date range or status, or clear the search.")
        text.setObjectName("emptyText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(text)
        row = QHBoxLayout()
        row.addStretch(1)
        self.clear_filters = QPushButton("Clear filters")
        self.clear_filters.setObjectName("secondaryButton")
        self.clear_filters.clicked.connect(self.reset_filters)
        row.addWidget(self.clear_filters)
        row.addStretch(1)
        col.addLayout(row)
        col.addStretch(2)
        return page

    def _restyle(self, p: theme.Palette) -> None:
        self._search_action.setIcon(icon("search", p.text_muted))
        self._empty_icon.setPixmap(pixmap("search", 40, p.border))
        self._banner_icon.setPixmap(pixmap("warning", 18, p.danger))
        self.open_dialer.setIcon(icon("dialpad", p.accent_text))
        self.table.viewport().update()
        self.detail.restyle(p)

    def reset_filters(self) -> None:
        """Back to every call of the last 30 days (the empty state's way out)."""
        widgets = (self.direction, self.status, self.agent, self.range, self.search, self.live)
        for w in widgets:
            w.blockSignals(True)
        self.direction.setCurrentIndex(0)
        self.status.setCurrentIndex(0)
        self.agent.setCurrentIndex(0)
        self.range.setCurrentText("30 days")
        self.search.clear()
        self.live.setChecked(False)
        for w in widgets:
            w.blockSignals(False)
        self.since.setVisible(False)
        self.until.setVisible(False)
        self.apply_filters()

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
        self.banner_frame.setVisible(False)
        shown = self.model.rowCount()
        self.statusBar().showMessage(f"{total} calls ({shown} loaded)")
        self._update_summary()

    def _failed(self, detail: str) -> None:
        err = user_error(ErrorKind.CALL_LOGS_FAILED, detail)
        self.banner.setText(f"<b>{err.message}</b>. {err.what_to_do}")
        self.banner_frame.setVisible(True)
        self.statusBar().showMessage(err.message)

    def _update_summary(self) -> None:
        rows = self.model.records()
        total = self.model.total
        self.pages.setCurrentWidget(self.table if rows else self.empty)
        if not rows:
            for value in self.stats.values():
                value.setText("-")
            self.summary.setText("No calls in this range.")
            return
        answered = [r for r in rows if r.status in _ANSWERED]
        durations = [r.duration_s for r in answered if r.duration_s is not None]
        share = 100.0 * len(answered) / len(rows)
        avg = fmt_duration(int(sum(durations) / len(durations))) if durations else "n/a"
        loaded = f"All {total} calls" if len(rows) >= total else f"{len(rows)} of {total} calls"
        self.stats["calls"].setText(str(total))
        self.stats["answered"].setText(f"{share:.0f}%")
        self.stats["average"].setText(avg)
        text = f"{loaded} loaded; shares and average over these."
        if self._sees_all and not self.agent.currentData():
            per: dict[str, list[CallRecord]] = {}
            for r in rows:
                per.setdefault(r.agent_id, []).append(r)
            parts = []
            for agent_id, calls in sorted(per.items(), key=lambda kv: -len(kv[1]))[:4]:
                ans = sum(1 for c in calls if c.status in _ANSWERED)
                name = self._agents.get(agent_id, agent_id)
                share_a = 100 * ans // len(calls)
                parts.append(f"<b>{name}</b> {len(calls)} calls, {share_a}% answered")
            text += "<br>" + " · ".join(parts)
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


class StatusPillDelegate(QStyledItemDelegate):
    """Paints the status as a soft coloured pill, like the dialer's badges."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        record = index.data(Qt.ItemDataRole.UserRole)
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        if not text or not isinstance(record, CallRecord):
            return
        p = theme.current()
        fg = str(getattr(p, look.status_tone(record.status)))
        font = QFont(option.font)
        font.setPixelSize(11)
        font.setWeight(QFont.Weight.DemiBold)
        metrics = QFontMetrics(font)
        width = metrics.horizontalAdvance(text) + 18
        rect = QRectF(option.rect.left() + 6, option.rect.center().y() - 10, width, 20)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(look.tint(fg, p.surface, 0.18)))
        painter.drawRoundedRect(rect, 10, 10)
        painter.setPen(QColor(fg))
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


def _date(d: QDate) -> datetime:
    return datetime(d.year(), d.month(), d.day()).astimezone()
