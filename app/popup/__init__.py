"""The incoming-call popup: who is calling, answer/reject/dismiss, call waiting."""

from app.popup.manager import PopupManager
from app.popup.window import IncomingPopup

__all__ = ["IncomingPopup", "PopupManager"]
