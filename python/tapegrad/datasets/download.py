"""Downloads for datasets that are too large to ship: the cache folder, checksums, and a
fetch that only ever leaves behind a complete, verified file.

A download goes to a temporary file next to its destination and is renamed into place only
after its checksum ("md5:<hex>" or "sha256:<hex>") matches; mirrors are tried in order.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024  # far above any file fetched here; stops a runaway server
TIMEOUT_S = 60


def default_root() -> str:
    """The cache folder: $TAPEGRAD_HOME, else $XDG_CACHE_HOME/tapegrad, else ~/.cache/tapegrad."""
    home = os.environ.get("TAPEGRAD_HOME")
    if home:
        return os.path.expanduser(home)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "tapegrad")


def _parse_checksum(checksum: str):
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise ValueError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return algorithm, digest.lower()


def file_checksum(path, algorithm: str = "sha256") -> str:
    # MD5 only checks integrity against the published digests; it is not used for security.
    h = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum_matches(path, checksum: str) -> bool:
    algorithm, digest = _parse_checksum(checksum)
    return file_checksum(path, algorithm) == digest


def _fetch(url: str, out, max_bytes: int = MAX_DOWNLOAD_BYTES) -> None:
    """Write the body of an http(s) GET of `url` to the binary file `out`."""
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise ValueError(f"only http(s) URLs are fetched, got {url!r}")
    request = urllib.request.Request(url, headers={"User-Agent": "tapegrad"})
    total = 0
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        while True:
            block = response.read(1 << 20)
            if not block:
                return
            total += len(block)
            if total > max_bytes:
                raise ValueError(f"the response is larger than {max_bytes} bytes; refusing it")
            out.write(block)


def download_url(urls, dest: str, checksum: str) -> str:
    """Fetch the first of `urls` whose content matches `checksum` into `dest` (atomically);
    RuntimeError listing every attempt if none does."""
    _parse_checksum(checksum)
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(dest)}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                _fetch(url, f)
                f.flush()
                os.fsync(f.fileno())
            algorithm, digest = _parse_checksum(checksum)
            got = file_checksum(tmp, algorithm)
            if got != digest:
                errors.append(f"{url}: {algorithm} checksum mismatch (got {got}, expected {digest})")
                continue
            os.replace(tmp, dest)
            return dest
        except (OSError, ValueError) as e:  # urllib's URLError / HTTPError and timeouts are OSErrors
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise RuntimeError(f"could not download {os.path.basename(dest)}:\n  " + "\n  ".join(errors))
