"""Small reusable call-UI pieces: icons, dial pad, status line, quality meter, timer."""
