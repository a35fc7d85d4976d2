"""Published files the book reads: where they come from, their checksums, and a local cache.

Downloading, caching and checksum verification are `pooch <https://www.fatiando.org/pooch>`_'s
(the library scipy, scikit-image and MNE fetch their data with): :data:`REGISTRY` is the pooch
registry, one sha256 per file. Each file is looked up, in order, in

1. the folder named by ``$HYDRONET_NB_MIRROR`` (a local mirror with the same layout,
   ``<group>/<file>``: tests and CI point it at ``../shared/reference``); pooch has no notion of a
   mirror, so this step is the one thing done here, with pooch's own hash check;
2. the cache folder, ``$HYDRONET_NB_CACHE`` or ``~/.cache/hydronet_nb`` (pooch's storage);
3. its public URL, downloaded into the cache by pooch (into a temporary file, moved into place
   only when its sha256 matches).

Whatever the source, the sha256 must match the one pinned here, or nothing is returned. The cache heals
itself: a cached copy that fails its sha256 (a 0-byte file from a full disk, a damaged one) is deleted and
downloaded again; when that fails too, the error names the file, the cache folder and ``$HYDRONET_NB_CACHE``.
A cache folder that cannot be made or written is named the same way.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pooch

from ..utils.files import sha256_of  # noqa: F401 (the package's checksum helper, used with fetched files)

pooch.get_logger().setLevel("WARNING")  # no "Downloading file ..." lines in the chapters
MIRROR_ENV = "HYDRONET_NB_MIRROR"
CACHE_ENV = "HYDRONET_NB_CACHE"


@dataclass(frozen=True)
class ReferenceFile:
    relpath: str  # "<group>/<file>", the layout of mirror and cache
    url: str
    sha256: str
    licence: str


_MODEL_URL = "https://raw.githubusercontent.com/jenna1701/hydronet/b7e9040175e7c7b44a108158af5451a01346b502/challenge-1.5/models/"
_MINIMA_URL = "https://raw.githubusercontent.com/exalearn/hydronet/ea9c8a3f855b82b875ffb0832088170d58160990/challenge-3/data/lowest_xyz/"
_MD_URL = "https://raw.githubusercontent.com/graphcore-research/hydronet-gnn/a89c2e4bfb9bc11f99c10349733231d259012fec/experiments/"

_MINIMA_SHA256 = {
    3: "0fa3f165ef102d340234691e4cee6d5e92a4627ef5ea3c60a098f759df6f5569",
    4: "9a5c5356512471f279cc50a780aee6e35b05095130c4c048343118f069161a81",
    5: "9f4b82288343a2baffdf684054a30b67d390ccdb9a95fb5bacec6d816ae05b22",
    6: "e57030500eb1c74fda95262c10aab80ee0a477a9c459c7288ca6d2502cc691d9",
    7: "c21a2a2108ed8cd79b9925b3f7a756d40cf1a7101fc0353d3744fc544092bafd",
    8: "f92ca8b7681438c63c8e997d78191e53387f7f731025b65464505ef7984e7ae8",
    9: "ca1919a1117b2ac1d403eb6177a890e6190c8d5f2698fa50ceda0b5fca5f83cc",
    10: "0271e70cc656ea61e90eb9228045bd2ebea6c1dd9882cd3a083890a0f5ad7ec2",
    11: "f3d05301d0c5a603938089dc207a0fecf0c82ab4ab405167be3f67fe524a2fc3",
    12: "0af19ef1e5d20cf21e27f2fed2bca41e7b290bb093a5506d70eedc72a5279c3f",
    13: "a66521fe12baa48f4038654312f715df3e3f2c5d96b4ae1ab92f4566eb992bb9",
    14: "d809108b78484caf7cb2d6c6e48c062d38200a614e50b81834e688664bf3679d",
    15: "e1346a6a4d9e7358171c9f96fe68c8d2cc00c1a241c7b1fa752a42ed4ae4b19c",
}
_MD_SHA256 = {
    "ttm": "80b8813b92fe89e2bbc949d8aefb8b1b9782942d2bcd0c75e68334870ba7bcdd",
    "ipu": "95e941a757302e77c45533bfabcdfd1dab7b182dc5f721bd7e77ea4a0d6b5e5c",
    "finetune-nonmin_only": "1dc8040dc6e7c1973bcff5fcea7db2412ae93b3f87a1dac340c36eaf62f046d7",
    "scratch-nonmin_only": "6829603f60e038135c522ed04516f547ee00e82d6bf40a9cd1d918a801ffc823",
}

#: the registry: name -> file, URL (pinned to a commit) and sha256
REGISTRY: dict[str, ReferenceFile] = {
    "published-model": ReferenceFile(
        "published-model/IPU-minima-best_model.pt",
        _MODEL_URL + "IPU-minima-best_model.pt",
        "7c07362a4d151bcd18dffe164e0cb41eb82871f0450a28f5eaf3502a9301c591",
        "Apache-2.0",
    ),
    **{
        f"ttm21f-minimum-w{n}": ReferenceFile(
            f"ttm21f-lowest-minima/w{n}_lowest.xyz", _MINIMA_URL + f"w{n}_lowest.xyz", sha, "Apache-2.0"
        )
        for n, sha in _MINIMA_SHA256.items()
    },
    **{
        f"graphcore-w10-md-{name}": ReferenceFile(
            f"graphcore-w10-md/W10_row42_{name}_1.xyz", _MD_URL + f"W10_row42_{name}_1.xyz", sha, "MIT"
        )
        for name, sha in _MD_SHA256.items()
    },
}

#: sizes of the real TTM2.1-F global minima the registry knows
TTM21F_MINIMA_SIZES = tuple(sorted(_MINIMA_SHA256))
#: the four (H2O)10 trajectories of the paper's MD study
GRAPHCORE_MD_RUNS = tuple(_MD_SHA256)


class ChecksumError(RuntimeError):
    """A file's content is not the published one."""


class CacheError(OSError):
    """A cache folder that cannot be made, read or written; the message names it and ``$HYDRONET_NB_CACHE``."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hydronet_nb")


def mirror_dir() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    return Path(value) if value else None


def _verify(path: Path, entry: ReferenceFile) -> Path:
    found = pooch.file_hash(str(path), alg="sha256")
    if found != entry.sha256:
        raise ChecksumError(
            f"{path}: sha256 {found} does not match the published {entry.sha256} "
            f"({entry.url}); delete the file or fix the mirror"
        )
    return path


def _download(url: str, output_file: str, _pooch) -> None:
    """pooch's downloader: its HTTP(S) downloader, plus ``file://`` URLs (local copies, tests)."""
    if url.startswith("file:"):
        with open(url2pathname(urlparse(url).path), "rb") as src, open(output_file, "wb") as out:
            shutil.copyfileobj(src, out)
        return
    pooch.HTTPDownloader(timeout=60, progressbar=False)(url, output_file, _pooch)


def _pooch() -> pooch.Pooch:
    """A pooch over :data:`REGISTRY` storing into :func:`cache_dir` (made per call: tests change both)."""
    return pooch.create(path=cache_dir(), base_url="", registry={e.relpath: f"sha256:{e.sha256}" for e in REGISTRY.values()},
                        urls={e.relpath: e.url for e in REGISTRY.values()}, allow_updates=True)


def fetch(name: str) -> Path:
    """Local path of the reference file ``name`` (a key of :data:`REGISTRY`), checksum verified."""
    try:
        entry = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown reference file {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    mirror = mirror_dir()
    if mirror is not None:
        path = mirror / entry.relpath
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not in the mirror named by ${MIRROR_ENV}={mirror}")
        return _verify(path, entry)
    from filelock import FileLock

    cache = cache_dir()
    target = cache / entry.relpath
    try:
        # one download at a time per file: a second process waits, then finds the verified file in the cache
        (cache / ".locks").mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(cache / ".locks" / f"{entry.sha256[:16]}.lock"))
        lock.acquire()
    except OSError as exc:
        if target.is_file() and pooch.file_hash(str(target), alg="sha256") == entry.sha256:
            return target  # a read-only cache holding a verified copy is still a cache
        raise CacheError(f"{cache}: cannot use this cache folder ({exc.strerror or exc}); set ${CACHE_ENV} to a "
                         f"writable folder (or ${MIRROR_ENV} to a folder holding {entry.relpath})") from exc
    try:
        damaged = _remove_damaged(target, entry)
        try:
            return Path(_pooch().fetch(entry.relpath, downloader=_download))
        except ValueError as exc:  # pooch's hash mismatch: the temporary download is already gone
            raise ChecksumError(f"{target}: {exc} ({entry.url})") from exc
        except OSError as exc:  # unreachable host, missing file, HTTP error (requests' errors are OSErrors)
            if not isinstance(exc, ConnectionError) and not _writable(target.parent):
                raise CacheError(f"{target}: cannot write into the cache {cache} ({exc.strerror or exc}); set "
                                 f"${CACHE_ENV} to a writable folder") from exc
            damaged = (f"the cached copy failed its sha256 check and was deleted; the cache is {cache} "
                       f"(${CACHE_ENV}); ") if damaged else f"the cache is {cache} (${CACHE_ENV}); "
            raise ConnectionError(
                f"{target}: could not download {entry.url} ({exc}); {damaged}without network, set ${MIRROR_ENV} "
                f"to a folder holding {entry.relpath}"
            ) from exc
    finally:
        lock.release()


def _remove_damaged(target: Path, entry: ReferenceFile) -> bool:
    """Delete a cached copy whose sha256 is not the pinned one (pooch would keep it when the download fails)."""
    if not target.exists():
        return False
    try:
        if target.is_file() and pooch.file_hash(str(target), alg="sha256") == entry.sha256:
            return False
        if target.is_dir():
            raise IsADirectoryError(21, "a folder where the file should be")
        target.unlink()
    except OSError as exc:
        raise CacheError(f"{target}: a damaged cached copy that cannot be replaced ({exc.strerror or exc}); "
                         f"delete it, or set ${CACHE_ENV} to another folder") from exc
    warnings.warn(f"{target}: the cached copy failed its sha256 check; deleted, fetching it again",
                  stacklevel=3)
    return True


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (made if missing); tried, since root ignores permissions."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def ttm21f_minima_paths(sizes=TTM21F_MINIMA_SIZES) -> list[Path]:
    """Paths of the real TTM2.1-F global minima ``wN_lowest.xyz`` for the given sizes."""
    return [fetch(f"ttm21f-minimum-w{n}") for n in sizes]
