"""The adapters' shared folder checks: typed errors before any library reads the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genproto.errors import CheckpointError, CheckpointNotFoundError, OptionError
from genproto.local_folder import local_folder, read_json_object, resolve_device

WORDS = dict(model="m", contents="config.json", example="registry.get('m', path='d')",
             save="save it with save_pretrained(DIR)")


def test_a_folder_is_resolved(tmp_path: Path) -> None:
    assert local_folder(str(tmp_path / "." / ""), **WORDS) == tmp_path.resolve()


def test_no_path_and_missing_folders_are_typed(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="model 'm' needs option 'path'") as info:
        local_folder(None, **WORDS)
    assert "registry.get('m', path='d')" in str(info.value)
    with pytest.raises(CheckpointNotFoundError, match="no model folder") as missing:
        local_folder(tmp_path / "absent", **WORDS)
    assert "never downloads (save it with save_pretrained(DIR) first)" in str(missing.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointNotFoundError):
        local_folder(tmp_path / "file", **WORDS)  # a file is not a folder


@pytest.mark.parametrize(("text", "message"), [
    ("{broken", "cannot read"), ("[1, 2]", "does not hold a JSON object"),
    (b"\xff\xfe", "cannot read"),
])
def test_json_that_is_not_an_object_is_refused(tmp_path: Path, text: str | bytes,
                                               message: str) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CheckpointError, match=message) as info:
        read_json_object(path, fix="Re-save it")
    assert "Re-save it" in str(info.value)
    path.write_text('{"a": 1}')
    assert read_json_object(path, fix="x") == {"a": 1}
    with pytest.raises(CheckpointError, match="cannot read"):
        read_json_object(tmp_path / "absent.json", fix="x")


def test_auto_device_is_the_gpu_when_there_is_one() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
