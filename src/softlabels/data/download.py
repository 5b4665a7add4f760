"""Downloads of raw data files: bounded retries with backoff, a timeout, SHA-256 verification and an
atomic write (a temporary file beside the target, renamed into place only once verified), so a
failed or interrupted download never leaves a file that looks complete. Only http and https URLs are
fetched (redirects included), and a download stops once it exceeds the size it can have.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Sequence

from softlabels.errors import DownloadError, InputError
from softlabels.io import atomic_path

log = logging.getLogger("softlabels")

# HTTP statuses worth another attempt; any other HTTP error (404, 403...) fails at once.
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
CHUNK = 1 << 20
MAX_WAIT = 60.0
SCHEMES = ("https", "http")
#: the most bytes a download may bring when its size is not known in advance
MAX_UNKNOWN_SIZE = 2 << 30
#: results/raw/<source>/<file>: where the download rule caches what it fetched
CACHE = Path("results") / "raw"
HINT = ("To use files downloaded another way, put them in a folder and set raw_dir to it on the data set "
        "(docs/real-data.md)")


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not (dropped connection, timeout, 5xx)."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def size_cap(size: int | None) -> int:
    """The most bytes a download of ``size`` bytes may bring: the size plus a margin of 1% (at least
    1 MiB), or MAX_UNKNOWN_SIZE when the size is not known."""
    return MAX_UNKNOWN_SIZE if size is None else size + max(1 << 20, size // 100)


def check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise DownloadError(f"{url}: only http and https URLs are downloaded, not {scheme or 'a URL without a scheme'}"
                            f" (check downloads.<source>.base_url; for local files set raw_dir on the data set)")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https URLs only (urllib would also follow one to ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch(url: str, dest: str | os.PathLike, sha256: str, *, size: int | None = None, retries: int = 4,
          timeout: float = 60.0, backoff: float = 2.0, hint: str = HINT) -> Path:
    """Download ``url`` to ``dest`` and check its SHA-256; raise DownloadError if that fails.

    At most ``retries`` attempts, waiting ``backoff`` seconds before the second and twice as long
    before each further one (at most 60 s); ``timeout`` is how long the connection may stay silent.
    Only a dropped or timed-out connection and HTTP 408/425/429/5xx are retried; a checksum mismatch
    or another HTTP error fails at once. ``hint`` ends the error message (what the user can do).
    """
    dest = Path(dest)
    check_url(url)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256 or ""):
        raise DownloadError(f"{url}: no valid SHA-256 checksum to verify it against (got {sha256!r})" + _tail(hint))
    if retries < 1:
        raise DownloadError(f"{url}: retries must be >= 1, got {retries}")
    problems: list[str] = []
    for attempt in range(1, retries + 1):
        if attempt > 1:
            wait = min(backoff * 2 ** (attempt - 2), MAX_WAIT)
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1fs", url, attempt - 1, retries, problems[-1], wait)
            time.sleep(wait)
        log.info("downloading %s -> %s (attempt %d/%d)", url, dest, attempt, retries)
        try:
            _attempt(url, dest, sha256.lower(), size, timeout)
            log.info("%s: %d bytes, SHA-256 verified", dest, dest.stat().st_size)
            return dest
        except _Retryable as exc:
            problems.append(str(exc))
        except DownloadError as exc:
            raise DownloadError(str(exc) + _tail(hint)) from None
    raise DownloadError(f"download of {url} failed after {retries} attempts; last error: {problems[-1]}" + _tail(hint))


def _tail(hint: str) -> str:
    return f". {hint}" if hint else ""


def _attempt(url: str, dest: Path, sha256: str, size: int | None, timeout: float) -> None:
    """One attempt: stream into a temporary file, hashing as it comes, rename it onto ``dest`` if it verifies."""
    with atomic_path(dest) as tmp:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "softlabels-download/1 (python urllib)"})
            with _OPENER.open(request, timeout=timeout) as resp, open(tmp, "wb") as fh:
                length = resp.headers.get("Content-Length", "")
                declared = int(length) if length.isdigit() else None
                cap = size_cap(size)
                if declared is not None and declared > cap:
                    raise DownloadError(_too_big(url, f"the server announces {declared} bytes", size, cap))
                h, n = hashlib.sha256(), 0
                while chunk := resp.read(CHUNK):
                    h.update(chunk)
                    fh.write(chunk)
                    n += len(chunk)
                    if n > cap:
                        raise DownloadError(_too_big(url, f"more than {cap} bytes arrived", size, cap))
                if declared is not None and n != declared:
                    raise _Retryable(f"connection closed after {n} of {declared} bytes")
                fh.flush()
                os.fsync(fh.fileno())
        except urllib.error.HTTPError as exc:
            msg = f"HTTP {exc.code} {exc.reason}"
            if exc.code in RETRY_STATUS:
                raise _Retryable(msg) from None
            raise DownloadError(f"download of {url} failed: {msg} (wrong base_url or file name?)") from None
        except ValueError as exc:  # urllib's answer to a malformed URL or an unknown scheme
            raise DownloadError(f"download of {url} failed: not a valid URL ({exc})") from None
        except (http.client.HTTPException, OSError) as exc:  # OSError covers URLError, timeouts, resets
            raise _Retryable(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
        got = h.hexdigest()
        if got != sha256:
            expected = f"{sha256} ({size} bytes)" if size else sha256
            raise DownloadError(f"download of {url}: SHA-256 mismatch, got {got} ({n} bytes), expected {expected}; "
                                f"the mirror serves a different or damaged file; the download was discarded")


def _too_big(url: str, what: str, size: int | None, cap: int) -> str:
    expected = f"the file has {size} bytes" if size is not None else f"at most {cap} bytes are accepted"
    return f"download of {url} stopped: {what}, but {expected}; the server sends something else; the download was discarded"


def set_aside_bad_download(exc: InputError, files: Sequence[str | os.PathLike]) -> InputError:
    """``exc`` (a raw file that cannot be read), and when that file is one the download rule cached under
    results/raw/, move it aside to ``<file>.corrupt`` so that the next run downloads it again, and say so;
    a file of a data set's raw_dir is the user's: it stays where it is, and the message says to replace it
    (nothing downloads it)."""
    for f in files:
        path = Path(f)
        if not str(exc).startswith(str(f)) or not path.is_file():
            continue
        if path.parent.parent != CACHE:
            return InputError(f"{exc}. It is a file of the data set's raw_dir (your copy, left as it is): replace it "
                              f"with a good copy, or remove raw_dir from the data set so that the workflow downloads "
                              f"and checks the official file")
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning("%s: unreadable cached download moved aside to %s", path, aside)
        return InputError(f"{exc}. It was a cached download: it is moved aside to {aside}, so running the same "
                          f"snakemake command again downloads it afresh (or fetch only it: snakemake --cores 1 {path})")
    return exc
