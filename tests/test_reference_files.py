import pytest

from hydronet_nb.io import reference_files as rf


def test_mirror_files_verify(monkeypatch):
    path = rf.fetch("ttm21f-minimum-w3")
    assert path.name == "w3_lowest.xyz" and rf.sha256_of(path) == rf.REGISTRY["ttm21f-minimum-w3"].sha256


def test_mirror_with_wrong_content_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "ttm21f-lowest-minima" / "w3_lowest.xyz"
    bad.parent.mkdir()
    bad.write_text("9\nnot the published file\n")
    monkeypatch.setenv(rf.MIRROR_ENV, str(tmp_path))
    with pytest.raises(rf.ChecksumError, match="w3_lowest.xyz: sha256 .* does not match"):
        rf.fetch("ttm21f-minimum-w3")


def test_mirror_without_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(rf.MIRROR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="w4_lowest.xyz: not in the mirror"):
        rf.fetch("ttm21f-minimum-w4")


def test_download_into_cache_then_reuse(tmp_path, monkeypatch):
    """The download path, fed from a file:// URL (no network here): verified, cached, reused."""
    source = rf.fetch("ttm21f-minimum-w5")
    entry = rf.REGISTRY["ttm21f-minimum-w5"]
    monkeypatch.setitem(rf.REGISTRY, "ttm21f-minimum-w5", rf.ReferenceFile(entry.relpath, source.as_uri(), entry.sha256, entry.licence))
    monkeypatch.delenv(rf.MIRROR_ENV)
    monkeypatch.setenv(rf.CACHE_ENV, str(tmp_path / "cache"))
    got = rf.fetch("ttm21f-minimum-w5")
    assert got == tmp_path / "cache" / entry.relpath and got.read_bytes() == source.read_bytes()
    source_copy = tmp_path / "gone.xyz"  # second call must not download again
    monkeypatch.setitem(rf.REGISTRY, "ttm21f-minimum-w5", rf.ReferenceFile(entry.relpath, source_copy.as_uri(), entry.sha256, entry.licence))
    assert rf.fetch("ttm21f-minimum-w5") == got


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    fake = tmp_path / "fake.xyz"
    fake.write_text("3\n\nO 0 0 0\nH 1 0 0\nH 0 1 0\n")
    entry = rf.REGISTRY["ttm21f-minimum-w6"]
    monkeypatch.setitem(rf.REGISTRY, "ttm21f-minimum-w6", rf.ReferenceFile(entry.relpath, fake.as_uri(), entry.sha256, entry.licence))
    monkeypatch.delenv(rf.MIRROR_ENV)
    monkeypatch.setenv(rf.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(rf.ChecksumError):
        rf.fetch("ttm21f-minimum-w6")
    assert not any((tmp_path / "cache").rglob("*.xyz*"))


def test_unreachable_url_says_how_to_work_offline(tmp_path, monkeypatch):
    entry = rf.REGISTRY["ttm21f-minimum-w7"]
    missing = (tmp_path / "missing.xyz").as_uri()
    monkeypatch.setitem(rf.REGISTRY, "ttm21f-minimum-w7", rf.ReferenceFile(entry.relpath, missing, entry.sha256, entry.licence))
    monkeypatch.delenv(rf.MIRROR_ENV)
    monkeypatch.setenv(rf.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ConnectionError, match="HYDRONET_NB_MIRROR"):
        rf.fetch("ttm21f-minimum-w7")


def test_unknown_name():
    with pytest.raises(KeyError, match="unknown reference file 'w99'"):
        rf.fetch("w99")


def test_two_processes_fetching_one_file_download_it_once(tmp_path, monkeypatch):
    """A lock in the cache: the second process waits for the first and reuses its verified file."""
    import multiprocessing
    import time

    source = rf.fetch("ttm21f-minimum-w8")
    entry = rf.REGISTRY["ttm21f-minimum-w8"]
    monkeypatch.setitem(rf.REGISTRY, "ttm21f-minimum-w8",
                        rf.ReferenceFile(entry.relpath, source.as_uri(), entry.sha256, entry.licence))
    monkeypatch.delenv(rf.MIRROR_ENV)
    monkeypatch.setenv(rf.CACHE_ENV, str(tmp_path / "cache"))
    calls = tmp_path / "downloads.log"
    original = rf._download

    def slow_download(url, output_file, pooch_):
        with open(calls, "a") as log:
            log.write("download\n")
        time.sleep(0.5)  # long enough for the other process to arrive while this one is half done
        original(url, output_file, pooch_)

    monkeypatch.setattr(rf, "_download", slow_download)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=rf.fetch, args=("ttm21f-minimum-w8",)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert calls.read_text().count("download") == 1
    assert rf.sha256_of(tmp_path / "cache" / entry.relpath) == entry.sha256
