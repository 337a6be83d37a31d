"""SIP and audio engine. Runs PJSIP in a process of its own; never imports QtWidgets."""
