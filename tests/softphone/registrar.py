"""A scripted UDP registrar: answers each REGISTER with the next status from a list."""

from __future__ import annotations

import re
import socket
import threading


class FakeRegistrar:
    def __init__(self, answers: list[int]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answers = list(answers)
        self.requests: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            text = data.decode(errors="replace")
            if not text.startswith("REGISTER "):
                continue
            self.requests.append(text)
            code = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            phrase = {200: "OK", 403: "Forbidden", 503: "Service Unavailable"}.get(code, "X")
            headers = [
                line
                for line in text.split("\r\n")
                if re.match(r"^(Via|From|To|Call-ID|CSeq|Contact):", line, re.IGNORECASE)
            ]
            headers = [
                h + ";tag=reg" if h.lower().startswith("to:") and "tag=" not in h else h
                for h in headers
            ]
            if code == 200:
                headers.append("Expires: 60")
            reply = f"SIP/2.0 {code} {phrase}\r\n" + "\r\n".join(headers)
            reply += "\r\nContent-Length: 0\r\n\r\n"
            try:
                self.sock.sendto(reply.encode(), peer)
            except OSError:
                return  # closed while answering (the test is over)
