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
