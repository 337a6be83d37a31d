"""The engine process internals: one thread owns pjsua2; nothing here leaves the process."""
