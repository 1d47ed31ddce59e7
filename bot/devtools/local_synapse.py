"""A real Synapse homeserver run as a child process, for tests and the local demo.

`LocalSynapse` writes a minimal single-user-machine configuration (server name
``localhost``, SQLite, loopback listener, no federation, no open registration),
starts ``python -m synapse.app.homeserver`` with the current interpreter, and
talks to it over HTTP with aiohttp: shared-secret registration, password login
and the admin rate-limit override.

Synapse is never imported here: it runs in its own process, so this module stays
importable without the ``dev`` extra installed.

A data directory that already holds a ``homeserver.yaml`` is reused: its secrets,
port, signing key and database survive, so the demo keeps its users and rooms
from one run to the next. The keys this module manages (listener, database,
rate limits, ...) are rewritten on every start; anything else a person added to
the file is kept.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ctypes
import hashlib
import hmac
import importlib.util
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple
from urllib.parse import quote

import aiohttp
import yaml

__all__ = [
    "LocalSynapse",
    "LocalSynapseError",
    "MatrixAPIError",
    "MatrixAccount",
    "RateLimits",
    "relaxed_rate_limits",
]

RateLimits = Literal["relaxed", "default"] | Mapping[str, Any]
"""``"relaxed"`` (every limiter wide open), ``"default"`` (Synapse's own limits)
or a mapping of ``rc_*`` sections laid over the relaxed set."""

_OPEN: dict[str, float] = {"per_second": 10000, "burst_count": 100000}

_RC_SECTIONS: dict[str, Any] = {
    "rc_message": _OPEN,
    "rc_registration": _OPEN,
    "rc_registration_token_validity": _OPEN,
    "rc_login": {"address": _OPEN, "account": _OPEN, "failed_attempts": _OPEN},
    "rc_admin_redaction": _OPEN,
    "rc_joins": {"local": _OPEN, "remote": _OPEN},
    "rc_joins_per_room": _OPEN,
    "rc_key_requests": _OPEN,
    "rc_3pid_validation": _OPEN,
    "rc_invites": {"per_room": _OPEN, "per_user": _OPEN, "per_issuer": _OPEN},
    "rc_third_party_invite": _OPEN,
    "rc_media_create": _OPEN,
    "rc_presence": {"per_user": _OPEN},
    "rc_delayed_event_mgmt": _OPEN,
    "rc_room_creation": _OPEN,
    "rc_reports": _OPEN,
    "rc_user_directory": _OPEN,
    "rc_profile": _OPEN,
}

_PRESERVED_SECRETS = ("registration_shared_secret", "macaroon_secret_key", "form_secret")
_CONFIG_FILE = "homeserver.yaml"
_LOG_CONFIG_FILE = "log.config"
_LOG_FILE = "homeserver.log"
_OUTPUT_FILE = "synapse.out"
_PORT_ATTEMPTS = 3


class LocalSynapseError(RuntimeError):
    """Synapse could not be installed, configured, started or stopped."""


class MatrixAPIError(RuntimeError):
    """The homeserver answered an HTTP request with an error.

    ``retry_after_ms`` is set on 429 answers so callers can honour it.
    """

    def __init__(
        self,
        status: int,
        errcode: str | None,
        error: str | None,
        retry_after_ms: int | None = None,
    ) -> None:
        self.status = status
        self.errcode = errcode
        self.error = error
        self.retry_after_ms = retry_after_ms
        super().__init__(f"HTTP {status} {errcode or ''}: {error or ''}".strip())


class MatrixAccount(NamedTuple):
    """A logged-in device: what registration and login hand back."""

    user_id: str
    access_token: str
    device_id: str


def relaxed_rate_limits() -> dict[str, Any]:
    """Every ``rc_*`` section Synapse reads, set to 10,000/s with a burst of 100,000.

    Setting a limiter to 0 does not disable it in Synapse, hence the large values.
    """
    return copy.deepcopy(_RC_SECTIONS)


def _resolve_rate_limits(rate_limits: RateLimits) -> dict[str, Any]:
    if rate_limits == "default":
        return {}
    if rate_limits == "relaxed":
        return relaxed_rate_limits()
    if not isinstance(rate_limits, Mapping):
        raise ValueError(
            f"rate_limits must be 'relaxed', 'default' or a mapping, not {rate_limits!r}"
        )
    merged = relaxed_rate_limits()
    for section, value in rate_limits.items():
        if not section.startswith("rc_"):
            raise ValueError(f"rate limit sections start with 'rc_', got {section!r}")
        base = merged.get(section)
        if isinstance(base, dict) and isinstance(value, Mapping) and "per_second" not in value:
            merged[section] = {**base, **copy.deepcopy(dict(value))}
        else:
            merged[section] = copy.deepcopy(value)
    return merged


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies.

    It keeps a killed test run from leaving servers behind. ``None`` where
    ``prctl`` is unavailable.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def _set() -> None:
        prctl(pr_set_pdeathsig, sig, 0, 0, 0)

    return _set


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


class LocalSynapse:
    """A Synapse homeserver in a data directory, run as a child process.

    Usage::

        syn = LocalSynapse(tmp_path / "synapse")
        await syn.start()
        alice = await syn.register("alice", "secret")
        ...
        await syn.stop()

    ``rate_limits="relaxed"`` (the default) opens every limiter so tests never
    meet a 429 by accident; ``"default"`` keeps Synapse's production limits; a
    mapping such as ``{"rc_message": {"per_second": 0.5, "burst_count": 2}}`` is
    laid over the relaxed set, to provoke 429s on purpose. ``extra_config`` is
    merged last into ``homeserver.yaml``.
    """

    server_name = "localhost"

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        rate_limits: RateLimits = "relaxed",
        extra_config: Mapping[str, Any] | None = None,
        python: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self._rate_limits = _resolve_rate_limits(rate_limits)
        self._extra_config = copy.deepcopy(dict(extra_config or {}))
        self._port: int | None = port
        self._secret: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self.last_start_seconds: float | None = None

    @property
    def config_path(self) -> Path:
        """The ``homeserver.yaml`` this instance writes and Synapse reads."""
        return self.data_dir / _CONFIG_FILE

    @property
    def log_path(self) -> Path:
        """Synapse's own log (WARNING and above)."""
        return self.data_dir / _LOG_FILE

    @property
    def output_path(self) -> Path:
        """The child process's stdout and stderr."""
        return self.data_dir / _OUTPUT_FILE

    @property
    def port(self) -> int:
        """The HTTP port; known once the configuration has been written."""
        if self._port is None:
            raise LocalSynapseError("the port is chosen at start(); call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """The client-server API root, e.g. ``http://127.0.0.1:8008``."""
        return f"http://{self.host}:{self.port}"

    @property
    def registration_shared_secret(self) -> str:
        """The secret behind ``/_synapse/admin/v1/register``."""
        if self._secret is None:
            raise LocalSynapseError("the configuration is written at start(); call start() first")
        return self._secret

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child process id while it runs."""
        return self._proc.pid if self.running and self._proc else None

    def user_id(self, localpart: str) -> str:
        """The full Matrix id of a local user."""
        return f"@{localpart}:{self.server_name}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the Synapse log and of the process output, for error messages."""
        return (
            f"--- {self.log_path} ---\n{tail(self.log_path, lines)}\n"
            f"--- {self.output_path} ---\n{tail(self.output_path, lines)}"
        )

    async def __aenter__(self) -> LocalSynapse:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Write the configuration, generate missing keys, start Synapse and wait until
        ``/_matrix/client/versions`` answers.

        Raises `LocalSynapseError` with the tail of the logs when Synapse exits or
        does not answer within ``start_timeout`` seconds.
        """
        if self.running:
            return
        self._check_installed()
        started = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_is_flexible = self._write_config()
        await self._generate_keys()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._spawn()
            try:
                await self._wait_until_ready(started)
                break
            except LocalSynapseError:
                address_taken = "Address already in use" in self.log_tail(200)
                await self.stop()
                if not (port_is_flexible and address_taken and attempt < _PORT_ATTEMPTS):
                    raise
                self._write_config(new_port=True)
        self.last_start_seconds = time.perf_counter() - started

    async def stop(self, grace: float = 15.0) -> None:
        """Stop Synapse: SIGTERM, then SIGKILL after ``grace`` seconds."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                await stop_process(proc, signal.SIGTERM, grace)
        finally:
            if self._output is not None:
                self._output.close()
                self._output = None

    async def restart(self) -> None:
        """Stop and start again on the same port, data directory and database."""
        await self.stop()
        await self.start()

    async def register(
        self,
        localpart: str,
        password: str,
        admin: bool = False,
        displayname: str | None = None,
    ) -> MatrixAccount:
        """Create a user through shared-secret registration and return its first device.

        Idempotent: when the user already exists, log in with ``password`` instead
        (a new device each time).
        """
        path = "/_synapse/admin/v1/register"
        _, body = await self._request("GET", path)
        nonce = body["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        payload: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            payload["displayname"] = displayname
        try:
            _, body = await self._request("POST", path, json=payload)
        except MatrixAPIError as exc:
            if exc.errcode == "M_USER_IN_USE":
                return await self.login(localpart, password)
            raise
        return MatrixAccount(body["user_id"], body["access_token"], body["device_id"])

    async def login(
        self, localpart: str, password: str, device_id: str | None = None
    ) -> MatrixAccount:
        """Log in with a password; ``device_id`` reuses a known device."""
        payload: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
            "initial_device_display_name": "cohortbot tests",
        }
        if device_id is not None:
            payload["device_id"] = device_id
        _, body = await self._request("POST", "/_matrix/client/v3/login", json=payload)
        return MatrixAccount(body["user_id"], body["access_token"], body["device_id"])

    async def admin_override_ratelimit(
        self,
        user_id: str,
        admin_token: str,
        messages_per_second: int = 0,
        burst_count: int = 0,
    ) -> dict[str, Any]:
        """Set a user's message rate limit through the admin API.

        ``0, 0`` (the default) exempts the user from rate limiting altogether;
        other values replace ``rc_message`` for that user. Synapse only accepts
        integers here.
        """
        _, body = await self._request(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit",
            json={"messages_per_second": messages_per_second, "burst_count": burst_count},
            token=admin_token,
        )
        return body

    async def admin_delete_ratelimit_override(self, user_id: str, admin_token: str) -> None:
        """Give a user the server-wide limits back."""
        await self._request(
            "DELETE",
            f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit",
            token=admin_token,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """One HTTP call to the homeserver; raises `MatrixAPIError` on an error status."""
        _, body = await self._request(method, path, json=json, token=token)
        return body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, self.base_url + path, json=json, headers=headers) as resp,
        ):
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {"error": await resp.text()}
            if not isinstance(body, dict):
                body = {"value": body}
            if resp.status >= 400:
                retry = body.get("retry_after_ms")
                if retry is None and resp.headers.get("Retry-After", "").isdigit():
                    retry = int(resp.headers["Retry-After"]) * 1000
                raise MatrixAPIError(resp.status, body.get("errcode"), body.get("error"), retry)
            return resp.status, body

    def _check_installed(self) -> None:
        if self.python == sys.executable and importlib.util.find_spec("synapse") is None:
            raise LocalSynapseError(
                f"matrix-synapse is not installed for {sys.executable}. "
                "Install the dev extra (pip install -e '.[dev]'); `make test` does it."
            )

    def _write_config(self, new_port: bool = False) -> bool:
        """Write ``homeserver.yaml``; return whether the port may be changed on conflict."""
        existing: dict[str, Any] = {}
        if self.config_path.exists():
            loaded = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                existing = loaded
        flexible = new_port
        if new_port:
            self._port = free_port(self.host)
        elif self._port is None:
            stored = _listener_port(existing)
            if stored is not None:
                self._port = stored
            else:
                self._port = free_port(self.host)
                flexible = True
        for key in _PRESERVED_SECRETS:
            if not existing.get(key):
                existing[key] = secrets.token_urlsafe(32)
        self._secret = str(existing["registration_shared_secret"])

        config = {key: value for key, value in existing.items() if not key.startswith("rc_")}
        config.update(self._managed_config())
        config.update(copy.deepcopy(self._rate_limits))
        _deep_update(config, self._extra_config)

        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                    " - %(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        _atomic_write(self.data_dir / _LOG_CONFIG_FILE, yaml.safe_dump(log_config, sort_keys=False))
        _atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))
        return flexible

    def _managed_config(self) -> dict[str, Any]:
        data = self.data_dir
        return {
            "server_name": self.server_name,
            "public_baseurl": f"{self.base_url}/",
            "pid_file": str(data / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": [self.host],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(data / "homeserver.db")},
            },
            "log_config": str(data / _LOG_CONFIG_FILE),
            "media_store_path": str(data / "media_store"),
            "signing_key_path": str(data / f"{self.server_name}.signing.key"),
            "report_stats": False,
            "enable_metrics": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "bcrypt_rounds": 4,
        }

    async def _generate_keys(self) -> None:
        """Create the server signing key if missing.

        The key file is what ``synapse.app.homeserver --generate-keys`` writes
        (``ed25519 a_XXXX <unpadded base64 of a 32-byte seed>``, as read by
        signedjson); any 32 random bytes are a valid Ed25519 seed. Writing it here
        saves the ~1.8 s that a second Synapse process takes just to import.
        """
        signing_key = self.data_dir / f"{self.server_name}.signing.key"
        if signing_key.exists():
            return
        alphabet = string.ascii_letters + string.digits
        version = "a_" + "".join(secrets.choice(alphabet) for _ in range(4))
        seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        _atomic_write(signing_key, f"ed25519 {version} {seed}\n")

    def _spawn(self) -> None:
        self._output = self.output_path.open("ab")
        self._output.write(f"\n=== start on port {self.port} ===\n".encode())
        self._output.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [self.python, "-m", "synapse.app.homeserver", "--config-path", str(self.config_path)],
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )

    async def _wait_until_ready(self, started: float) -> None:
        url = f"{self.base_url}/_matrix/client/versions"
        deadline = started + self.start_timeout
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                assert self._proc is not None
                code = self._proc.poll()
                if code is not None:
                    raise LocalSynapseError(
                        f"Synapse exited with code {code} while starting in {self.data_dir}.\n"
                        f"{self.log_tail()}"
                    )
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                except (TimeoutError, aiohttp.ClientError):
                    pass
                if time.perf_counter() > deadline:
                    raise LocalSynapseError(
                        f"Synapse did not answer {url} within {self.start_timeout:g} s.\n"
                        f"{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)


def _listener_port(config: Mapping[str, Any]) -> int | None:
    for listener in config.get("listeners") or []:
        if isinstance(listener, Mapping) and isinstance(listener.get("port"), int):
            return int(listener["port"])
    return None


def _deep_update(target: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


async def stop_process(proc: subprocess.Popen[bytes], sig: int, grace: float) -> int:
    """Send ``sig``, wait up to ``grace`` seconds, then SIGKILL; return the exit code."""
    proc.send_signal(sig)
    try:
        return await asyncio.to_thread(proc.wait, grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return await asyncio.to_thread(proc.wait)
