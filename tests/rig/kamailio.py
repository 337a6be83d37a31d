"""A Kamailio registrar and proxy with digest auth and no database, on 127.0.0.1.

Users live in an htable filled when the module starts, registrations in memory (usrloc
db_mode 0), so a restart on the same port forgets everyone, as a real registrar reboot
would. No port-less `alias=127.0.0.1`: with it, in-dialog ACK/BYE towards local user agents
get swallowed as "for me".
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tests.rig.ports import HOST, free_port
from tests.rig.process import PeerProcess
from tests.rig.sipmsg import udp_options
from tests.rig.waiting import wait_until

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
MODULES_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
    "/usr/local/lib/kamailio/modules",
)

_CONFIG = r"""#!KAMAILIO
debug={debug}
log_stderror=yes
log_prefix="{{$mt $hdr(CSeq) $ci}} "
children=2
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
tcp_connection_lifetime=3605
server_header="Server: lodgestory-test-kamailio"

mpath="{mpath}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "htable.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("registrar", "default_expires", 300)
modparam("htable", "htable", "users=>size=4;")
modparam("rr", "enable_full_lr", 1)
modparam("tm", "fr_timer", 4000)
modparam("tm", "fr_inv_timer", 60000)

event_route[htable:mod-init] {{
{users}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "malformed request from $si:$sp\n");
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "Alive");
        exit;
    }}
    if (has_totag()) {{
        route(WITHINDLG);
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        route(AUTH);
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (from_uri == myself) {{
        route(AUTH);
    }}
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE|REFER")) {{
        record_route();
    }}
    if (uri == myself) {{
        $var(rc) = lookup("location");
        if ($var(rc) < 0) {{
            if ($var(rc) == -2) {{
                sl_send_reply("405", "Method Not Allowed");
            }} else {{
                t_reply("404", "Not Found");
            }}
            exit;
        }}
    }}
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

route[WITHINDLG] {{
    if (loose_route()) {{
        route(RELAY);
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    sl_send_reply("404", "Not here");
    exit;
}}

route[AUTH] {{
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "$sht(users=>$au)", "0")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if ($au != $tU) {{
            sl_send_reply("403", "Forbidden: auth user is not the AOR");
            exit;
        }}
    }} else {{
        if (!pv_proxy_authenticate("$fd", "$sht(users=>$au)", "0")) {{
            proxy_challenge("$fd", "0");
            exit;
        }}
    }}
    consume_credentials();
}}
"""


def _modules_dir() -> str:
    for d in MODULES_DIRS:
        if Path(d, "registrar.so").exists():
            return d
    raise FileNotFoundError("Kamailio modules not found; install the Debian package kamailio")


def _quote(value: str) -> str:
    if any(c in value for c in '"\\\n\r'):
        raise ValueError(f"unsupported character in Kamailio user/password: {value!r}")
    return value


class Kamailio:
    """A registrar/proxy listening on udp+tcp 127.0.0.1:`port`.

    `start()` returns once it answers OPTIONS; `stop()` and `start()` again reuse the port
    (tests of registrar outages). Users are fixed at construction: {username: password}.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        port: int | None = None,
        workdir: Path | None = None,
        debug: int = 2,
    ) -> None:
        self.users = dict(users)
        self.port = port or free_port()
        self.host = HOST
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kamailio-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "run").mkdir(exist_ok=True)
        self.config_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        users_cfg = "\n".join(
            f'    $sht(users=>{_quote(u)}) = "{_quote(p)}";' for u, p in self.users.items()
        )
        self.config_path.write_text(
            _CONFIG.format(debug=debug, mpath=_modules_dir(), users=users_cfg)
        )
        self._proc: PeerProcess | None = None
        self.starts = 0

    @property
    def domain(self) -> str:
        """host:port to use in AORs and as the registrar."""
        return f"{self.host}:{self.port}"

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.domain}"

    def argv(self) -> list[str]:
        return [
            KAMAILIO,
            "-f", str(self.config_path),
            "-DD", "-E",
            "-Y", str(self.workdir / "run"),
            "-P", str(self.workdir / "run" / "kamailio.pid"),
            "-l", f"udp:{self.host}:{self.port}",
            "-l", f"tcp:{self.host}:{self.port}",
            "-m", "32", "-M", "8",
        ]  # fmt: skip

    def check_config(self) -> None:
        import subprocess

        out = subprocess.run(
            [*self.argv(), "-c"], capture_output=True, text=True, timeout=20, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"kamailio config check failed:\n{out.stdout}{out.stderr}")

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            log.write(f"---- start #{self.starts + 1} ----\n".encode())
        self._proc = PeerProcess(self.argv(), self.log_path, cwd=self.workdir)
        self.starts += 1

        def ready() -> bool:
            if self._proc is not None and not self._proc.alive():
                raise RuntimeError(f"kamailio exited at start:\n{self._proc.log_tail()}")
            return udp_options(self.host, self.port, timeout=0.2) == 200

        wait_until(ready, timeout, f"kamailio to answer OPTIONS on {self.domain}")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.start(timeout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
