"""TLS for every listener: certificates from files named by settings, reloaded when they change.

A listener serves TLS when ``SUPERVISION_TLS_CERT_FILE`` and ``SUPERVISION_TLS_KEY_FILE`` are
set: the HTTP services (uvicorn), tracking's gRPC server and its metrics listener. TLS 1.2 is the
oldest version offered, with the default ciphers of OpenSSL (HTTP) and of gRPC.

Certificates are read again without a restart: on SIGHUP, and when a new connection arrives at
least a second after the files were last looked at and they have changed since (a renewal by
certbot or a secret mount's update). New connections get the new certificate; those already open
keep theirs. A pair that cannot be loaded (the certificate written, its key not yet) is logged and
the previous one kept, so a renewal half done never takes a listener down.

Without certificates a listener speaks plaintext, which is for loopback: a listener bound to any
other address refuses to start unless ``SUPERVISION_ALLOW_PLAINTEXT`` says TLS is terminated in
front of it (a proxy), see :func:`refuse_plaintext`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # grpc is imported by the servers that use it, not by every command
    import grpc

log = logging.getLogger(__name__)

MINIMUM_VERSION: Final = ssl.TLSVersion.TLSv1_2
KEY_MODE_REFUSED: Final = 0o037
"""A key file anyone but its owner may write, or anyone outside its group read, is refused (a
group may read it, as for a key a certificate manager owns: PostgreSQL's rule for its own)."""
LOOK_AGAIN_AFTER_SECONDS: Final = 1.0
"""A new connection looks at the files again only once this long has passed since the last look."""


class TlsError(ValueError):
    """A certificate, key or CA file that cannot be used; says which and why."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only ever reaches this machine."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def refuse_plaintext(
    *, listener: str, host: str, certificates: Certificates | None, allow_plaintext: bool
) -> None:
    """Raise :class:`TlsError` when ``listener`` would serve plaintext off loopback unasked."""
    if certificates is not None or allow_plaintext or is_loopback(host):
        return
    raise TlsError(
        f"{listener} would listen on {host} without TLS: a bearer token sent there in the clear"
        " is a token given away. Set SUPERVISION_TLS_CERT_FILE and SUPERVISION_TLS_KEY_FILE, or,"
        " when a proxy in front of it terminates TLS, SUPERVISION_ALLOW_PLAINTEXT=true."
    )


@dataclass(frozen=True)
class _Stamp:
    """What changes when a file is replaced or rewritten."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> _Stamp | None:
        try:
            status = path.stat()
        except OSError:
            return None
        return cls(status.st_ino, status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class Loaded:
    """One generation of the files' contents, as PEM bytes and as a server context."""

    generation: int
    chain: bytes
    key: bytes
    client_ca: bytes | None
    context: ssl.SSLContext


class Certificates:
    """A listener's certificate chain and key (and, for mutual TLS, the CA its clients' certificates
    must chain to), read from files and read again when they change.

    ``ssl_context()`` is what an HTTP server is given; ``grpc_credentials()`` what a gRPC server is.
    Both present the newest pair loaded to each new connection."""

    def __init__(
        self, chain_file: Path, key_file: Path, client_ca_file: Path | None = None
    ) -> None:
        self.files = (chain_file, key_file, *((client_ca_file,) if client_ca_file else ()))
        self._chain_file = chain_file
        self._key_file = key_file
        self._client_ca_file = client_ca_file
        self._lock = threading.Lock()
        self._looked_at = time.monotonic()
        self._stamps = self._stamp()
        self.current = self._load(generation=1)  # raises TlsError: a listener cannot start so

    @property
    def requires_client_certificates(self) -> bool:
        return self._client_ca_file is not None

    def _stamp(self) -> tuple[_Stamp | None, ...]:
        return tuple(_Stamp.of(path) for path in self.files)

    def _read(self, path: Path, what: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as error:
            raise TlsError(f"the TLS {what} {path} cannot be read: {error.strerror}") from None

    def _load(self, *, generation: int) -> Loaded:
        chain = self._read(self._chain_file, "certificate file")
        key = self._read(self._key_file, "key file")
        client_ca = (
            self._read(self._client_ca_file, "client CA file") if self._client_ca_file else None
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = MINIMUM_VERSION
        try:
            context.load_cert_chain(self._chain_file, self._key_file)
        except (ssl.SSLError, OSError) as error:
            raise TlsError(
                f"the TLS certificate {self._chain_file} and key {self._key_file} cannot be used"
                f" together: {error}"
            ) from None
        if client_ca is not None:
            try:
                context.load_verify_locations(cadata=client_ca.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as error:
                raise TlsError(
                    f"the client CA file {self._client_ca_file} holds no usable certificate:"
                    f" {error}"
                ) from None
        context.sni_callback = self._present_newest
        return Loaded(generation, chain, key, client_ca, context)

    def reload(self, *, force: bool = False) -> bool:
        """Load the files again if they changed (or ``force``); returns whether a new pair is in
        use. A pair that cannot be loaded is logged and the previous one kept."""
        with self._lock:
            self._looked_at = time.monotonic()
            stamps = self._stamp()
            if stamps == self._stamps and not force:
                return False
            self._stamps = stamps
            try:
                loaded = self._load(generation=self.current.generation + 1)
            except TlsError as error:
                log.error("new TLS certificate not loaded; the previous one is kept: %s", error)
                return False
            self.current = loaded
        log.info(
            "TLS certificate loaded",
            extra={"certificate_file": str(self._chain_file), "generation": loaded.generation},
        )
        return True

    def _maybe_reload(self) -> None:
        if time.monotonic() - self._looked_at >= LOOK_AGAIN_AFTER_SECONDS:
            self.reload()

    def _present_newest(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        """Called by OpenSSL on each handshake's ClientHello (with or without SNI): the
        connection continues with the newest context, hence the newest certificate."""
        self._maybe_reload()
        newest = self.current.context
        if connection.context is not newest:
            connection.context = newest

    def ssl_context(self) -> ssl.SSLContext:
        """For an HTTP server: each new connection starts here and moves to the newest pair."""
        return self.current.context

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """For a gRPC server: asked before each new connection's handshake whether the pair
        changed. With a client CA, clients must present a certificate that chains to it."""
        import grpc

        served = self.current.generation

        def config(loaded: Loaded) -> grpc.ServerCertificateConfiguration:
            return grpc.ssl_server_certificate_configuration(
                [(loaded.key, loaded.chain)], root_certificates=loaded.client_ca
            )

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            nonlocal served
            self._maybe_reload()
            loaded = self.current
            if loaded.generation == served:
                return None
            served = loaded.generation
            return config(loaded)

        return grpc.dynamic_ssl_server_credentials(
            config(self.current),
            fetch,
            require_client_authentication=self.requires_client_certificates,
        )


def certificates(
    chain_file: Path | None, key_file: Path | None, client_ca_file: Path | None = None
) -> Certificates | None:
    """The listener's certificates if both files are named; raises :class:`TlsError` when only one
    is, or when they cannot be used."""
    if chain_file is None and key_file is None:
        if client_ca_file is not None:
            raise TlsError(
                "a client CA file is set but no certificate: mutual TLS needs"
                " SUPERVISION_TLS_CERT_FILE and SUPERVISION_TLS_KEY_FILE too"
            )
        return None
    if chain_file is None or key_file is None:
        missing = "SUPERVISION_TLS_CERT_FILE" if chain_file is None else "SUPERVISION_TLS_KEY_FILE"
        raise TlsError(f"TLS needs both the certificate and its key: set {missing} too")
    _check_key_file(key_file)
    return Certificates(chain_file, key_file, client_ca_file)


def _check_key_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise TlsError(f"the TLS key file {path} cannot be read: {error.strerror}") from None
    if mode & KEY_MODE_REFUSED:
        raise TlsError(
            f"the TLS key file {path} is open to others (mode {mode & 0o777:04o}): keep it to"
            f" the service's user (chmod 600 {path}), or its group for reading (chmod 640)"
        )


def reload_on(signum: int, *listeners: Certificates | None) -> None:
    """Read every listener's files again on ``signum`` (SIGHUP). A Python-level handler: it runs
    in the main thread, which is the event loop's, between two of its steps."""
    loaded = [listener for listener in listeners if listener is not None]

    def reload_all(_signum: int, _frame: object) -> None:
        for listener in loaded:
            listener.reload(force=True)

    # A plaintext service has nothing to read again; SIGHUP must not end it either.
    signal.signal(signum, reload_all if loaded else signal.SIG_IGN)


def private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file only its owner can read (no moment when others could)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    temporary.replace(path)
