"""Wiring: builds the app's parts in order, connects them once, and runs the event loop.

Start-up order is chosen for the time to a usable dialer: crash hooks and logs first
(nothing may die silently), then the Qt application and the dialer window, which is shown
as soon as it exists; the engine process, the CRM backend and the outbox come up behind
it on background threads, and the dialer's status line follows them ("Registering...").

The CRM backend is the embedded one (local SQLite) unless a CRM address is set in the
settings or the machine policy; the demo line is used with the embedded CRM.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import importlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import platformdirs

from app import crash, ipc
from app.cli import Command, CommandKind, UsageError, parse_args
from app.config import APP_NAME, ConfigStore
from app.logs import log_dir, setup_logging

log = logging.getLogger(__name__)

STARTED_AT = time.perf_counter()


def data_dir() -> Path:
    override = os.environ.get("LODGEPHONE_DATA_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class Application:
    """Owns every long-lived part; ``run()`` until quit."""

    def __init__(self, command: Command, lock: ipc.InstanceLock, argv0: str = "lodgephone"):
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication

        self.command = command
        self.lock = lock
        self.config = ConfigStore()
        self.keeper: Any = None  # app.signin.SessionKeeper while a CRM is configured
        self.settings = self.config.settings
        QApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        existing = QApplication.instance()
        self.qapp = existing if isinstance(existing, QApplication) else QApplication([argv0])
        self.qapp.setApplicationName("Lodgestory Phone")
        self.qapp.setOrganizationName("Lodgestory")
        self.qapp.setDesktopFileName("lodgephone")
        self.qapp.setQuitOnLastWindowClosed(False)
        from app.runloop import MainThread

        self.main = MainThread()
        self.runner: Any = None  # app.runloop.AsyncRunner, started once the dialer is up
        self.session: Any = None
        self.qt_session: Any = None
        self.engine: Any = None
        self.device_choice: Any = None  # app.settings.devices.DeviceChoice, with the engine
        self.backend: Any = None
        self.outbox: Any = None
        self.dialer: Any = None
        self.main_window: Any = None
        self.settings_window: Any = None
        self.tray: Any = None
        self.popups: Any = None
        self.demo: Any = None
        self.demo_line: Any = None
        self.server: ipc.Server | None = None
        self.last_dial: str = ""
        self.ready_at: float | None = None
        self._first_frame: Any = None
        self.line_ready_at: float | None = None
        self._outbox_task: concurrent.futures.Future[Any] | None = None
        self._engine_boot: concurrent.futures.Future[Any] | None = None
        self._demo_boot: concurrent.futures.Future[Any] | None = None

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Dialer first (the agent sees it at once), the rest once its modules are loaded."""
        # The session, engine client and CRM modules take ~0.4 s of CPU to import (several
        # seconds on a loaded machine). Importing them on a helper thread keeps the dialer
        # painting and taking keys meanwhile (the GIL is handed over every few ms); the
        # objects themselves are still built here, on the Qt thread, once they are loaded.
        # The thread starts after the dialer's first frame: before it, sharing the GIL
        # made the dialer appear ~0.3 s later.
        self._build_dialer()

    def _dialer_shown(self) -> None:
        """The dialer's first frame is on screen (or it starts hidden): the rest may come."""
        if self.ready_at is not None:
            return
        self._mark_ready()
        threading.Thread(target=self._preload, name="preload", daemon=True).start()

    def _preload(self) -> None:
        # The engine (and the demo guest's engine) need nothing from the CRM or the
        # session: their processes boot on the other core while the rest is imported here.
        try:
            self._boot_engines()
        except Exception:  # _start_engine reports it to the agent
            log.exception("starting the engine early failed")
        for name in _PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # _start_rest imports it again and reports the error
                log.debug("preloading %s failed", name, exc_info=True)
        self.main.call(self._start_rest)

    def _boot_engines(self) -> None:
        from softphone.client import EngineClient
        from softphone.config import EngineConfig

        engine_config = EngineConfig(
            audio_backend=os.environ.get("LODGEPHONE_AUDIO", "miniaudio"),
            recordings_dir=str(data_dir() / "recordings"),
        )
        self.engine = EngineClient(engine_config, stderr=_engine_log(log_dir()))
        self._engine_boot = _in_thread("engine-boot", self.engine.start)
        if self.settings.demo_line and not self.settings.crm_url:
            from app.demo.line import DemoLine

            self._demo_boot = _in_thread("demo-boot", _start_demo, DemoLine)

    def _start_rest(self) -> None:
        self._build_core()
        # The line comes up on its own thread while the widgets are bound here: session
        # events reach the widgets through queued signals, so none is missed meanwhile.
        threading.Thread(target=self._start_engine, name="engine-start", daemon=True).start()
        self._build_ui()
        self.server = ipc.Server(self.lock, self._handle_ipc)
        for problem in self.config.problems:
            log.warning("settings: %s", problem)
        self.handle(self.command)

    def _build_core(self) -> None:
        from PySide6.QtCore import QLocale

        from app.runloop import AsyncRunner
        from app.session import phone
        from app.session.agent import AgentSession
        from app.session.qt_session import QtSession
        from crmclient.outbox import Outbox
        from softphone.client import EngineClient
        from softphone.config import EngineConfig

        self.runner = AsyncRunner()
        phone.set_country_names(
            lambda region: QLocale.territoryToString(QLocale.codeToTerritory(region))
        )
        folder = data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        crm_url = self.settings.crm_url
        if crm_url:
            from crmclient.http import HttpCrm

            async def make_http() -> Any:
                return HttpCrm(crm_url)

            self.backend = self.runner.run(make_http())
            label = crm_url
        else:
            self.backend = self.runner.run(self._make_embedded(folder))
            label = "embedded"
        self.outbox = Outbox(folder / "outbox.sqlite")
        self._outbox_task = self.runner.submit(self.outbox.run(self.outbox.sender(self.backend)))
        if self.engine is None:  # not booted early (that failed): the error comes at start
            engine_config = EngineConfig(
                audio_backend=os.environ.get("LODGEPHONE_AUDIO", "miniaudio"),
                recordings_dir=str(folder / "recordings"),
            )
            self.engine = EngineClient(engine_config, stderr=_engine_log(log_dir()))
        self.session = AgentSession(
            self.engine,
            self.backend,
            self.outbox,
            self.runner,
            lambda: self.config.settings,
            crm_label=label,
        )
        self.qt_session = QtSession(self.session)
        from app.settings.devices import DeviceChoice

        self.device_choice = DeviceChoice(self.engine, self.config)  # Settings' audio devices
        self.qt_session.dial_requested.connect(self._remember_dial)
        self.qt_session.registration_changed.connect(self._note_line_ready)

    async def _make_embedded(self, folder: Path) -> Any:
        from crmclient.embedded import EmbeddedCrm

        if self.settings.demo_line:
            with contextlib.suppress(ImportError):
                self.demo = importlib.import_module("app.demo")  # D2's demo line
        return EmbeddedCrm(folder / "crm.sqlite", guest_answers_after=3.0)

    def _build_dialer(self) -> None:
        from PySide6.QtCore import QTimer

        from app import theme
        from app.dialer.window import DialerWindow

        theme.ensure(self.settings.theme)  # light, dark, or following the system

        def follow_theme(settings: Any) -> None:
            def switch() -> None:
                theme.ensure(settings.theme)

            self.main.call(switch)

        self.config.subscribe(follow_theme)
        self.dialer = DialerWindow()
        minimized = self.command.minimized or self.settings.start_minimized
        if minimized:
            QTimer.singleShot(0, self._dialer_shown)
            return
        # "Ready" is the dialer's first frame handed to the window system (on X11 that is
        # after the server's Expose, some event-loop turns after show()); without an
        # Expose (a platform or window manager that never sends one) a second at most.
        self.dialer.winId()  # the native window, so its first Expose can be watched
        handle = self.dialer.windowHandle()
        if handle is not None:
            self._first_frame = _watch_first_frame(handle, self._dialer_shown)
        QTimer.singleShot(1000, self._dialer_shown)
        self.show_dialer()

    def _build_ui(self) -> None:
        self.dialer.bind(self.qt_session)
        with contextlib.suppress(Exception):
            from app.popup.manager import PopupManager

            self.popups = PopupManager()
            self.popups.bind(self.qt_session)
        with contextlib.suppress(Exception):
            from PySide6.QtWidgets import QSystemTrayIcon

            if QSystemTrayIcon.isSystemTrayAvailable():
                from app.tray import Tray

                self.tray = Tray()
                self.tray.bind(self.qt_session)
                self.tray.show_main_requested.connect(self.show_main)
                self.tray.show_dialer_requested.connect(self.show_dialer)
                self.tray.quit_requested.connect(self.quit)
                self.tray.diagnostics_requested.connect(self.export_diagnostics)

    def export_diagnostics(self) -> None:
        """Write the zip off the main thread, then show the agent where it is."""

        from app.diagnostics import export_for_agent

        status = self.status_data()

        def work() -> None:
            try:
                path = export_for_agent(status=status)
            except OSError as exc:
                log.warning("diagnostics export failed: %s", exc)
                return
            log.info("diagnostics written to %s", path)
            self.main.call(lambda: self._reveal(path))

        threading.Thread(target=work, name="diagnostics", daemon=True).start()

    @staticmethod
    def _reveal(path: Path) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

    def _mark_ready(self) -> None:
        self.ready_at = time.perf_counter()
        log.info("dialer ready %.0f ms after start", 1000 * (self.ready_at - STARTED_AT))
        ready_file = os.environ.get("LODGEPHONE_READY_FILE")
        if ready_file:  # benchmarks: the wall-clock moment the dialer was ready
            Path(ready_file).write_text(f"{time.time():.6f}\n", encoding="utf-8")

    def _note_line_ready(self, line: Any) -> None:
        """Log (and tell a benchmark) when the first line can place and take calls."""
        if self.line_ready_at is not None or line.state.value != "registered":
            return
        self.line_ready_at = time.perf_counter()
        log.info("line ready %.0f ms after start", 1000 * (self.line_ready_at - STARTED_AT))
        ready_file = os.environ.get("LODGEPHONE_READY_FILE")
        if ready_file:  # second line: the wall-clock moment a line was registered
            with open(ready_file, "a", encoding="utf-8") as fh:
                fh.write(f"{time.time():.6f}\n")

    def _start_engine(self) -> None:
        """Engine, then (embedded CRM) the demo guest, then the session's provisioning."""
        from app.session.model import ErrorKind

        try:
            boot = self._engine_boot
            hello = boot.result(30) if boot is not None else self.engine.start()
            log.info("engine %s up (pid %s)", hello.engine_version, hello.pid)
        except Exception as exc:
            log.error("engine did not start: %s", exc)
            self.session._error(ErrorKind.NOT_CONNECTED, str(exc))
        demo_line = None
        if self.demo is not None and not self.settings.crm_url and self.engine.hello:
            try:
                if self._demo_boot is not None:
                    demo_line = self._demo_boot.result(30)
                else:
                    demo_line = self.demo.DemoLine()
                    demo_line.start()
                self.demo_line = demo_line
                info = demo_line.info

                async def seed() -> None:
                    self.demo.seed_embedded(self.backend, info.port)

                self.runner.run(seed())
            except Exception:
                log.exception("demo line did not start")
                demo_line = None
        elif self._demo_boot is not None:  # booted early, but not wanted after all
            self._demo_boot.add_done_callback(_stop_demo)
        self._restore_crm_session()
        try:
            self.session.start().result(20)
        except Exception:
            log.exception("loading provisioning failed")
        if demo_line is not None:
            for added in self.session.accounts_added.values():
                demo_line.ring_agent_later(f"sip:agent@127.0.0.1:{added.local_port}")
                break

    def _keeper_for(self, email: str) -> Any:
        """The keyring keeper of the CRM session for ``email`` (None without a keyring)."""
        from app.signin import SessionKeeper
        from crmclient.secrets import SecretStore

        if self.keeper is not None:
            self.keeper.close()
            self.keeper = None
        try:
            self.keeper = SessionKeeper(self.backend, self.settings.crm_url, email, SecretStore())
        except Exception as exc:  # no keyring: sign-in still works, for this run only
            log.warning("no keyring for the CRM session: %s", exc)
        return self.keeper

    def _restore_crm_session(self) -> None:
        """Signed in once: pick the kept session up again so provisioning just loads."""
        if not (self.settings.crm_url and self.settings.crm_user):
            return
        keeper = self._keeper_for(self.settings.crm_user)
        if keeper is None:
            return
        try:
            user = self.runner.run(keeper.restore())
        except Exception:
            log.exception("restoring the CRM session failed")
            return
        if user is not None:
            log.info("CRM session restored for %s", user.email)

    # ---------------------------------------------------------------- windows
    def show_dialer(self) -> None:
        if self.dialer is not None:
            present = getattr(self.dialer, "present", None)
            if callable(present):
                present()
            else:
                self.dialer.show()

    def show_main(self) -> None:
        if self.main_window is None:
            from app.mainwindow.source import CallLogSource
            from app.mainwindow.window import MainWindow

            prov = self.session.provisioning
            agents: dict[str, str] = {}
            sees_all = False
            if prov is not None:
                agents[prov.user.id] = prov.user.name
                agents.update({t.user_id: t.name for t in prov.teammates})
                sees_all = prov.user.role.sees_all_calls
            self.main_window = MainWindow(
                CallLogSource(self.backend, self.runner, self.main),
                sees_all=sees_all,
                agents=agents,
                display_number=self.session._display,
            )
            self.main_window.call_back_requested.connect(self._call_back)
            self.main_window.settings_requested.connect(self.show_settings)
            self.main_window.dialer_requested.connect(self.show_dialer)
            self.qt_session.call_log_changed.connect(self._log_changed)
            self.main_window.apply_filters()
        self.main_window.show()
        self.main_window.raise_()
        self.main_window.activateWindow()

    def show_settings(self) -> None:
        if self.settings_window is None:
            from app.settings.window import SettingsWindow

            self.settings_window = SettingsWindow(self.config, self.qt_session)
            self.settings_window.sign_in_requested.connect(self._sign_in)
        self.settings_window.show()
        self.settings_window.raise_()

    def _sign_in(self, email: str, password: str) -> None:
        """Sign in to the CRM; the session tokens go to the OS keyring, nowhere else."""
        from crmclient.models import PasswordCredentials

        with contextlib.suppress(Exception):  # locked or unchanged: the keeper still keys by it
            self.config.update(crm_user=email)
        self._keeper_for(email)

        async def work() -> str:
            # The keeper writes the session (and each refresh) to the keyring.
            token = await self.backend.sign_in(PasswordCredentials(email=email, password=password))
            await self.session.apply_provisioning(await self.backend.get_provisioning())
            return str(token.user.name)

        window = self.settings_window

        def ok(name: str) -> None:
            window.signed_in(True, f"Signed in as {name}.")

        def err(exc: BaseException) -> None:
            window.signed_in(False, f"Sign-in failed: {exc}")

        self.main.when_done(self.runner.submit(work()), ok, err)

    def _log_changed(self, change: Any) -> None:
        if self.main_window is None:
            return
        window = self.main_window

        def ok(record: Any) -> None:
            window.call_changed(record)

        window._source.call(change.crm_call_id, ok, lambda _e: None)

    def _call_back(self, number: str, chat_id: str) -> None:
        from app.session.model import DialRequest, DialSource

        self.qt_session.open_dial(
            DialRequest(number, source=DialSource.USER, chat_id=chat_id or None)
        )
        self.show_dialer()

    def _remember_dial(self, request: Any) -> None:
        self.last_dial = request.number
        self.show_dialer()

    # ---------------------------------------------------------------- commands
    def _handle_ipc(self, argv: list[str], cwd: str) -> ipc.Reply:
        """IPC thread: parse, then do the work on the main thread and wait for it."""
        try:
            command = parse_args(argv)
        except UsageError as exc:
            return ipc.Reply(False, str(exc))
        except SystemExit:
            return ipc.Reply(False, "use `lodgephone --help` in a terminal")
        done: concurrent.futures.Future[ipc.Reply] = concurrent.futures.Future()

        def work() -> None:
            try:
                done.set_result(self.handle(command))
            except Exception as exc:
                log.exception("command failed")
                done.set_result(ipc.Reply(False, f"failed: {exc}"))

        self.main.call(work)
        try:
            return done.result(timeout=5)
        except concurrent.futures.TimeoutError:
            return ipc.Reply(False, "the app is busy; try again")

    def handle(self, command: Command) -> ipc.Reply:
        """Main thread: do what a command line asks."""
        from app.session.errors import user_error
        from app.session.model import DialRequest, DialSource, ErrorKind

        kind = command.kind
        if kind in (CommandKind.LINK, CommandKind.DIAL):
            if command.link_error or command.target is None:
                err = user_error(ErrorKind.INVALID_NUMBER, command.link_error)
                self.qt_session.error_raised.emit(
                    dataclasses.replace(err, what_to_do=command.link_error or err.what_to_do)
                )
                self.show_dialer()
                return ipc.Reply(False, f"Not dialled: {command.link_error}")
            dial_now = command.dial_now or (
                kind is CommandKind.LINK and self.config.settings.dial_links_immediately
            )
            source = DialSource.LINK if kind is CommandKind.LINK else DialSource.CLI
            number = command.raw if dial_now else command.target.dial_string
            self.qt_session.open_dial(DialRequest(number, source=source, dial_now=dial_now))
            if dial_now:
                self.last_dial = command.target.dial_string
            self.show_dialer()
            verb = "Dialling" if dial_now else "Dialer opened with"
            return ipc.Reply(True, f"{verb} {command.target.dial_string}")
        if kind is CommandKind.ANSWER:
            ringing = [c for c in self.qt_session.calls() if c.phase.value == "ringing"]
            if not ringing:
                return ipc.Reply(False, "No call is ringing.")
            self.qt_session.answer(ringing[-1].call_id)
            return ipc.Reply(True, f"Answering {ringing[-1].title}")
        if kind is CommandKind.HANGUP:
            calls = self.qt_session.calls()
            if not calls:
                return ipc.Reply(False, "No call to hang up.")
            self.qt_session.hangup()
            return ipc.Reply(True, "Hanging up")
        if kind is CommandKind.STATUS:
            return ipc.Reply(True, self._status_text(), self.status_data())
        if kind is CommandKind.SHOW:
            self.show_main()
            return ipc.Reply(True, "Shown")
        if kind is CommandKind.SETTINGS:
            self.show_settings()
            return ipc.Reply(True, "Settings shown")
        if kind is CommandKind.QUIT:
            self.main.call(self.quit)
            return ipc.Reply(True, "Quitting")
        if not command.minimized:
            self.show_dialer()
        return ipc.Reply(True, "Lodgestory Phone is running")

    def status_data(self) -> dict[str, Any]:
        status = self.session.status()
        return {
            "pid": os.getpid(),
            "crm": status.crm,
            "user": status.user,
            "presence": status.presence.value,
            "missed_calls": status.missed_calls,
            "outbox_pending": status.outbox_pending,
            "engine_pid": self.engine.pid if self.engine else None,
            "last_dial_request": self.last_dial,
            "lines": [
                {
                    "account": s.account_id,
                    "label": s.label,
                    "state": s.state.value,
                    "reason": s.reason,
                }
                for s in status.lines
            ],
            "calls": [
                {
                    "id": c.call_id,
                    "direction": c.direction.value,
                    "phase": c.phase.value,
                    "number": c.number,
                    "name": c.title,
                }
                for c in status.calls
            ],
        }

    def _status_text(self) -> str:
        data = self.status_data()
        lines = (
            ", ".join(f"{x['label'] or 'line'}: {x['state']}" for x in data["lines"]) or "no line"
        )
        calls = len(data["calls"])
        return f"{lines}; {calls} call(s); {data['missed_calls']} missed; CRM {data['crm']}"

    # ---------------------------------------------------------------- run / quit
    def run(self) -> int:
        self.start()
        code = self.qapp.exec()
        self.shutdown()
        return int(code)

    def quit(self) -> None:
        self.qapp.quit()

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.session is not None:
            with contextlib.suppress(Exception):
                self.session.flush_writes(2)
            self.session.close()
        if self.qt_session is not None:
            self.qt_session.close()
        if self.device_choice is not None:
            self.device_choice.close()  # before the engine stops: no apply into a dying one
        if self.demo_line is not None:
            with contextlib.suppress(Exception):
                self.demo_line.stop()
        elif self._demo_boot is not None:  # quit before the demo guest was taken into use
            self._demo_boot.add_done_callback(_stop_demo)
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self.engine.stop(timeout=3)
        if self._outbox_task is not None:
            self._outbox_task.cancel()
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.runner.run(self.backend.aclose(), timeout=3)
        if self.runner is not None:
            self.runner.stop()
        if self.outbox is not None:
            self.outbox.close()
        self.lock.release()


#: What ``_start_rest`` imports, heaviest first; pure Python without Qt widgets.
_PRELOAD = (
    "asyncio",
    "app.session.agent",
    "app.session.phone",
    "crmclient.outbox",
    "crmclient.embedded",
    "softphone.client",
    "softphone.config",
)


def _watch_first_frame(window: Any, done: Any) -> Any:
    """An event filter on ``window`` that calls ``done()`` once its first exposed frame has
    been painted and flushed, then removes itself. Built here so that importing this
    module stays free of Qt."""
    from PySide6.QtCore import QEvent, QObject

    class FirstFrame(QObject):
        def eventFilter(self, watched: Any, event: Any) -> bool:
            if event.type() != QEvent.Type.Expose or not window.isExposed():
                return False
            window.removeEventFilter(self)
            window.event(event)  # paint and flush the frame now, then say so
            done()
            return True

    probe = FirstFrame(window)
    window.installEventFilter(probe)
    return probe


def _in_thread(name: str, fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
    """``fn(*args)`` on a new daemon thread; its result or exception in the future."""
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def work() -> None:
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return fut


def _start_demo(make: Any) -> Any:
    """Create and start the demo guest (``app.demo.line.DemoLine``); returns it running."""
    line = make()
    try:
        line.start()
    except BaseException:
        line.stop()
        raise
    return line


def _stop_demo(boot: concurrent.futures.Future[Any]) -> None:
    if not boot.cancelled() and boot.exception() is None:
        with contextlib.suppress(Exception):
            boot.result().stop()


def _engine_log(folder: Path) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    return open(folder / "engine.log", "ab")


def run(command: Command, lock: ipc.InstanceLock) -> int:
    folder = log_dir()
    setup_logging(folder, console=bool(os.environ.get("LODGEPHONE_LOG_CONSOLE")))
    crash.install(folder)
    app = Application(command, lock, sys.argv[0] if sys.argv else "lodgephone")
    return app.run()
