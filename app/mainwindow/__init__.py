"""The main window: the Calls log with filters, summary, detail sheet and export."""
