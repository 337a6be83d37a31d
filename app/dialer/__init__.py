"""The floating dialer: number entry, the call in progress, and the after-call wrap-up."""

from app.dialer.window import DialerWindow

__all__ = ["DialerWindow"]
