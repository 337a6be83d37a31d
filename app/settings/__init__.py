"""The settings window, and the desktop integration it controls (autostart, link handler)."""
