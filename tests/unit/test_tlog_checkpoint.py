"""C2SP tlog-checkpoint bodies, signing and opening."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from privtrail.tlog import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    VerificationError,
    open_checkpoint,
    sign_checkpoint,
)

pytestmark = pytest.mark.unit

SPEC = json.loads((Path(__file__).parent / "vectors" / "tlog_checkpoint.json").read_text("utf-8"))
ORIGIN = "privtrail.example/unit/privacy.events.valid/3"
ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def keys() -> tuple[NoteSigner, NoteVerifier]:
    skey, vkey = NoteSigner.generate("privtrail.example/unit")
    return NoteSigner.from_key_string(skey), NoteVerifier.from_key_string(vkey)


def test_parse_spec_example() -> None:
    cp = Checkpoint.parse(SPEC["note_text"])
    assert cp.origin == SPEC["origin"]
    assert cp.size == SPEC["size"]
    assert cp.root_hash == base64.b64decode(SPEC["root_hash_b64"])
    assert cp.extensions == ()
    assert cp.to_body() == SPEC["note_text"].encode()


def test_body_format_and_round_trip_with_extensions() -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT, ("ext one", "ext two"))
    body = cp.to_body()
    assert body == (f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\next one\next two\n".encode())
    assert Checkpoint.parse(body) == cp


def test_empty_tree_checkpoint() -> None:
    cp = Checkpoint(ORIGIN, 0, ROOT)
    assert cp.to_body().split(b"\n")[1] == b"0"
    assert Checkpoint.parse(cp.to_body()).size == 0


def test_sign_and_open(keys: tuple[NoteSigner, NoteVerifier]) -> None:
    signer, verifier = keys
    cp = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_checkpoint(cp, signer)
    assert note.startswith(cp.to_body() + b"\n\xe2\x80\x94 privtrail.example/unit ")
    assert open_checkpoint(note, [verifier]) == cp
    assert open_checkpoint(note, [verifier], origin=ORIGIN) == cp


def test_open_rejects_other_origin(keys: tuple[NoteSigner, NoteVerifier]) -> None:
    signer, verifier = keys
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), signer)
    with pytest.raises(VerificationError, match=f"checkpoint is for log '{ORIGIN}', not the"):
        open_checkpoint(note, [verifier], origin="privtrail.example/unit/other/0")


def test_open_rejects_edited_size(keys: tuple[NoteSigner, NoteVerifier]) -> None:
    signer, verifier = keys
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), signer)
    with pytest.raises(VerificationError, match="invalid signature for key privtrail.example/unit"):
        open_checkpoint(note.replace(b"\n7\n", b"\n8\n", 1), [verifier])


def test_open_rejects_signed_text_that_is_not_a_checkpoint(
    keys: tuple[NoteSigner, NoteVerifier],
) -> None:
    from privtrail.tlog import sign_note

    signer, verifier = keys
    with pytest.raises(VerificationError, match="malformed checkpoint: needs origin"):
        open_checkpoint(sign_note("just one line\n", signer), [verifier])


ROOT_B64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n1\n{ROOT_B64}", "text must end with a newline"),
        (f"{ORIGIN}\n1\n", "needs origin, size and root lines, got 2 line"),
        (f"{ORIGIN}\n01\n{ROOT_B64}\n", "tree size '01' is not decimal"),
        (f"{ORIGIN}\n-1\n{ROOT_B64}\n", "tree size '-1' is not decimal"),
        (f"{ORIGIN}\n+1\n{ROOT_B64}\n", "tree size '\\+1' is not decimal"),
        (f"{ORIGIN}\n\u0661\n{ROOT_B64}\n", "is not decimal"),
        (f"{ORIGIN}\n1\n{ROOT_B64[:-1]}\n", "root hash is not base64"),
        (f"{ORIGIN}\n1\nAAAA\n", "root hash is 3 bytes, expected 32"),
        (f"\n1\n{ROOT_B64}\n", "checkpoint origin must not be empty"),
        (f"{ORIGIN}\n1\n{ROOT_B64}\n\n", "extension line must not be empty"),
    ],
)
def test_parse_errors(body: str, message: str) -> None:
    with pytest.raises(VerificationError, match="malformed checkpoint: .*" + message):
        Checkpoint.parse(body)


def test_parse_rejects_invalid_utf8() -> None:
    with pytest.raises(VerificationError, match="malformed checkpoint: not valid UTF-8"):
        Checkpoint.parse(b"\xff\n1\nAAAA\n")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": ""}, "origin must not be empty"),
        ({"origin": "a\nb"}, "origin must be one line"),
        ({"size": -1}, "tree size must be an integer >= 0"),
        ({"size": True}, "tree size must be an integer >= 0"),
        ({"root_hash": b"short"}, "root hash must be 32 bytes"),
        ({"extensions": ("ok", "")}, "extension line must not be empty"),
    ],
)
def test_constructor_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"origin": ORIGIN, "size": 1, "root_hash": ROOT, **kwargs}
    with pytest.raises(VerificationError, match=message):
        Checkpoint(**args)  # type: ignore[arg-type]
