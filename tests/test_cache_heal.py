"""The cache heals itself: a damaged published file is fetched again (or the error names the file, the cache and
$HYDRONET_NB_CACHE), an unusable cache folder is named, and a damaged compiled kernel is rebuilt. The "network" is a
file:// URL to the mirror's copy (no network here); nothing is copied into the project."""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydronet_nb.io import reference_files as rf

NAME = "ttm21f-minimum-w9"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache, no mirror, and the registry's URL for NAME pointing at the mirror's good copy."""
    good = rf.fetch(NAME)  # from the mirror (tests/conftest.py)
    entry = rf.REGISTRY[NAME]
    monkeypatch.setitem(rf.REGISTRY, NAME, rf.ReferenceFile(entry.relpath, good.as_uri(), entry.sha256, entry.licence))
    monkeypatch.delenv(rf.MIRROR_ENV, raising=False)
    monkeypatch.setenv(rf.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / entry.relpath, good


DAMAGE = st.one_of(st.just(b""), st.binary(min_size=1, max_size=200),
                   st.integers(0, 600).map(lambda n: ("truncate", n)), st.integers(0, 600).map(lambda n: ("flip", n)))


def damage(good: bytes, how) -> bytes:
    if isinstance(how, bytes):
        return how if how != good else how + b"x"
    kind, n = how
    if kind == "truncate":
        return good[:n % len(good)]
    data = bytearray(good)
    data[n % len(data)] ^= 0x55
    return bytes(data)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(DAMAGE)
def test_a_damaged_cached_file_is_replaced(tmp_path_factory, how):
    mp = pytest.MonkeyPatch()
    try:
        root = tmp_path_factory.mktemp("heal")
        good = rf.fetch(NAME)
        entry = rf.REGISTRY[NAME]
        mp.setitem(rf.REGISTRY, NAME, rf.ReferenceFile(entry.relpath, good.as_uri(), entry.sha256, entry.licence))
        mp.delenv(rf.MIRROR_ENV, raising=False)
        mp.setenv(rf.CACHE_ENV, str(root))
        cached = root / entry.relpath
        cached.parent.mkdir(parents=True)
        cached.write_bytes(damage(good.read_bytes(), how))
        with pytest.warns(UserWarning, match="failed its sha256 check; deleted, fetching it again"):
            assert rf.fetch(NAME) == cached
        assert cached.read_bytes() == good.read_bytes()
    finally:
        mp.undo()


def test_a_damaged_file_that_cannot_be_fetched_again_names_file_cache_and_variable(cache, monkeypatch):
    cached, good = cache
    entry = rf.REGISTRY[NAME]
    monkeypatch.setitem(rf.REGISTRY, NAME, rf.ReferenceFile(entry.relpath, (cached.parent / "gone.xyz").as_uri(),
                                                           entry.sha256, entry.licence))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # a 0-byte file, as a full disk leaves it
    with pytest.warns(UserWarning), pytest.raises(ConnectionError) as err:
        rf.fetch(NAME)
    message = str(err.value)
    assert str(cached) in message and str(cached.parents[1]) in message and "$HYDRONET_NB_CACHE" in message
    assert "failed its sha256 check and was deleted" in message and "$HYDRONET_NB_MIRROR" in message
    assert not cached.exists()  # the damaged copy does not stay


def test_an_unusable_cache_folder_names_the_variable(cache, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(rf.CACHE_ENV, str(blocker / "cache"))
    with pytest.raises(rf.CacheError, match=r"a-file/cache: cannot use this cache folder .*\$HYDRONET_NB_CACHE"):
        rf.fetch(NAME)
    from hydronet_nb.cli import main

    (tmp_path / "w.xyz").write_text("3\n\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    assert main(["predict", "--model", "published", str(tmp_path / "w.xyz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hydronet-nb: error: ") and "$HYDRONET_NB_CACHE" in err and "Errno" not in err


def test_a_good_cached_file_is_kept_and_reused(cache):
    cached, good = cache
    assert rf.fetch(NAME) == cached
    stamp = cached.stat().st_mtime_ns
    assert rf.fetch(NAME) == cached and cached.stat().st_mtime_ns == stamp


@pytest.fixture
def fake_compiler(tmp_path, monkeypatch):
    """A "compiler" that copies the library this session built (a real build takes half a minute on 2 cores) and
    logs each call; the cache is a fresh folder."""
    from hydronet_nb.model import cfconv

    real = cfconv._compile()._name  # the session's own library, built or found in the usual cache
    log = tmp_path / "builds.log"
    script = tmp_path / "fake-g++"
    script.write_text(f"""#!/bin/sh
echo build >> '{log}'
while [ "$#" -gt 1 ]; do [ "$1" = "-o" ] && out="$2"; shift; done
cp '{real}' "$out"
""")
    script.chmod(0o755)
    monkeypatch.setenv("CXX", str(script))
    monkeypatch.setenv("HYDRONET_NB_CACHE", str(tmp_path / "cache"))
    return cfconv, log


@pytest.mark.parametrize("damaged", [b"", b"\x7fELF garbage", "flip", "truncate"])
def test_a_damaged_compiled_kernel_is_rebuilt(fake_compiler, damaged):
    cfconv, log = fake_compiler
    lib = cfconv._compile()
    (library,) = (cfconv._cache_dir()).glob("cfconv_kernels_*.so")
    assert log.read_text().count("build") == 1 and lib.edge_conv_f32 is not None
    cfconv._compile()
    assert log.read_text().count("build") == 1  # an intact library is reused
    built = library.read_bytes()
    if damaged == "flip":  # may still load, but is not the library that was built: the sha256 beside it says so
        data = bytearray(built)
        data[len(data) // 2] ^= 0xFF
        damaged = bytes(data)
    elif damaged == "truncate":
        damaged = built[:len(built) // 3]
    # a new file (as another process leaves it): this process has the library mapped, so never write into it
    (library.parent / "damaged").write_bytes(damaged)
    os.replace(library.parent / "damaged", library)
    lib = cfconv._compile()
    assert log.read_text().count("build") == 2 and lib.table_grad_f64 is not None
    assert library.read_bytes() == built


def test_an_unwritable_kernel_cache_names_the_variable(fake_compiler, tmp_path, monkeypatch):
    cfconv, _ = fake_compiler
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("HYDRONET_NB_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(OSError, match=r"a-file/kernels: cannot build the kernels there .*\$HYDRONET_NB_CACHE"):
        cfconv._compile()
