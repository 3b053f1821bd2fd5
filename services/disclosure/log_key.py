"""The transparency log's private keys, read once at start-up from the file that
``SUPERVISION_DISCLOSURE_LOG_KEY_FILE`` names, and only if no one but the service can read it.

A file, not an environment variable: a process's environment is readable from
``/proc/<pid>/environ``, is inherited by every child process and ends up in crash reports. The
file holds one private key a line (``PRIVATE+KEY+…``, from ``supervision verify keygen``), blank
lines and ``#`` comments allowed: two keys of the log's name while it hands over to a new key
(:class:`~services.disclosure.checkpoints.SigningKeys`).

The file is read at start-up only, not on SIGHUP: disclosure may run several instances, and a
restart of one at a time (which the public API survives) changes the keys without a second way
to do it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from services.disclosure.checkpoints import CheckpointError, SigningKeys

RETIRED_VARIABLE: Final = "SUPERVISION_DISCLOSURE_LOG_KEY"
"""Where the key was read from before: disclosure refuses to start while it is set."""
OPEN_TO_OTHERS: Final = 0o077
"""Any permission for the file's group or for others: the key would not be the service's alone."""
_MAX_BYTES: Final = 64 * 1024


class LogKeyRefused(ValueError):
    """The key file is missing, unreadable, open to others or not a key file; says which file
    and what to do. Never quotes the file's content."""


def configured(path: Path | None, environment: Mapping[str, str]) -> SigningKeys | None:
    """The keys in ``path``, ``None`` without one (nothing is signed). Refused while the key is
    still in ``environment`` where it was once read: ignored, the log would go unsigned."""
    if RETIRED_VARIABLE in environment:
        raise LogKeyRefused(
            f"{RETIRED_VARIABLE} is set, but the key is no longer read from the environment:"
            " write it to a file only the service may read (chmod 600), name that file here, and"
            f" unset {RETIRED_VARIABLE}"
        )
    return None if path is None else read(path)


def read(path: Path) -> SigningKeys:
    """The keys in ``path``, checked on the open file itself (no window between the check of its
    mode and the read). Raises :class:`LogKeyRefused`."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)  # a FIFO would block
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise LogKeyRefused(f"the log's key file {path} does not exist") from None
        raise LogKeyRefused(f"the log's key file {path} cannot be read: {error.strerror}") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise LogKeyRefused(f"the log's key file {path} is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & OPEN_TO_OTHERS:
            raise LogKeyRefused(
                f"the log's key file {path} has mode {mode:04o}: its group or others may use it,"
                f" and only the service may read a private key. Run: chmod 600 {path}"
            )
        with open(descriptor, "rb", closefd=False) as file:
            content = file.read(_MAX_BYTES + 1)
    except OSError as error:
        raise LogKeyRefused(f"the log's key file {path} cannot be read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(content) > _MAX_BYTES:
        raise LogKeyRefused(f"the log's key file {path} is larger than {_MAX_BYTES} bytes")
    try:
        return SigningKeys.from_text(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise LogKeyRefused(f"the log's key file {path} is not UTF-8 text") from None
    except CheckpointError as error:
        raise LogKeyRefused(f"the log's key file {path}: {error}") from None
