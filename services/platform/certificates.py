"""X.509 certificates: what a certificate says about itself, and a local CA for development.

Production certificates come from a real CA (the agencies' and the servers' own PKI); the
:class:`DevelopmentCA` is for ``make run`` in TLS mode and for the tests: it issues the servers'
certificate for the loopback names and agencies' client certificates, with ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.platform.tls import private_file

AGENCY_URI_PREFIX: Final = "urn:supervision:agency:"
"""An agency's client certificate names it in a URI subject alternative name (for the people who
read the certificate; what binds it to the agency is its registration, by fingerprint)."""
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")


class CertificateError(ValueError):
    """Not a PEM certificate this system can use."""


@dataclass(frozen=True)
class Facts:
    """What a certificate says, as the directory keeps it."""

    fingerprint: bytes
    """SHA-256 of the certificate's DER encoding."""
    subject: str
    serial_number: str
    not_after: datetime.datetime

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


def facts(pem: bytes) -> Facts:
    """The facts of the first certificate in ``pem``."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise CertificateError(f"not a PEM certificate: {error}") from None
    return Facts(
        fingerprint=certificate.fingerprint(hashes.SHA256()),
        subject=certificate.subject.rfc4514_string(),
        serial_number=format(certificate.serial_number, "x"),
        not_after=certificate.not_valid_after_utc,
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Issued:
    certificate_file: Path
    key_file: Path

    def facts(self) -> Facts:
        return facts(self.certificate_file.read_bytes())


class DevelopmentCA:
    """A CA kept in a folder (``ca.pem``, ``ca.key``), made on first use. Not for production: its
    key sits unencrypted beside the certificates it signs."""

    def __init__(self, folder: Path, *, name: str = "Supervision development CA") -> None:
        self.folder = folder
        self.certificate_file = folder / "ca.pem"
        self._key_file = folder / "ca.key"
        if not self.certificate_file.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
            now = _now()
            certificate = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=False,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                )
                .sign(key, hashes.SHA256())
            )
            private_file(self._key_file, _key_pem(key))
            self.certificate_file.write_bytes(_pem(certificate))
        self._certificate = x509.load_pem_x509_certificate(self.certificate_file.read_bytes())
        loaded = serialization.load_pem_private_key(self._key_file.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{self._key_file} is not the EC key this CA makes")
        self._key = loaded

    def issue_server(self, folder: Path, names: tuple[str, ...] = LOOPBACK_NAMES) -> Issued:
        """A server certificate for ``names`` (host names and IP addresses): ``server.pem``
        (the chain: the certificate, then this CA's) and ``server.key`` in ``folder``."""
        alternatives: list[x509.GeneralName] = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        return self._issue(
            folder,
            "server",
            common_name=names[0],
            alternatives=alternatives,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            valid_for=datetime.timedelta(days=397),
        )

    def issue_agency(
        self,
        folder: Path,
        agency_id: str,
        *,
        valid_for: datetime.timedelta = datetime.timedelta(days=397),
        valid_from: datetime.datetime | None = None,
    ) -> Issued:
        """A client certificate for ``agency_id``: ``<agency_id>.pem`` and ``<agency_id>.key``."""
        return self._issue(
            folder,
            agency_id,
            common_name=agency_id,
            alternatives=[x509.UniformResourceIdentifier(AGENCY_URI_PREFIX + agency_id)],
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            valid_for=valid_for,
            valid_from=valid_from,
        )

    def _issue(
        self,
        folder: Path,
        stem: str,
        *,
        common_name: str,
        alternatives: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
        valid_for: datetime.timedelta,
        valid_from: datetime.datetime | None = None,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        start = valid_from or _now() - datetime.timedelta(minutes=5)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        issued = Issued(folder / f"{stem}.pem", folder / f"{stem}.key")
        private_file(issued.key_file, _key_pem(key))
        issued.certificate_file.write_bytes(_pem(certificate) + _pem(self._certificate))
        return issued


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
