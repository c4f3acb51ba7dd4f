"""C2SP signed notes and sumdb key strings, against golang.org/x/mod's published test vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from privtrail.tlog import (
    KeyFormatError,
    NoteSigner,
    NoteVerifier,
    VerificationError,
    open_note,
    sign_note,
)
from privtrail.tlog.note import key_id

pytestmark = pytest.mark.unit

V = json.loads((Path(__file__).parent / "vectors" / "signed_note.json").read_text("utf-8"))
TEXT: str = V["text"]
SIG: str = V["signature_line"]
OTHER_SIG: str = V["other_signature_line"]


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.from_key_string(V["signer_key"])


@pytest.fixture
def verifier() -> NoteVerifier:
    return NoteVerifier.from_key_string(V["verifier_key"])


def test_published_signer_derives_published_verifier(signer: NoteSigner) -> None:
    assert signer.verifier().key_string() == V["verifier_key"]
    assert f"{signer.key_id:08x}" == V["verifier_key"].split("+")[1]


def test_sign_reproduces_published_note(signer: NoteSigner) -> None:
    # Ed25519 is deterministic, so the signature line must match Go's byte for byte.
    assert sign_note(TEXT, signer) == (TEXT + "\n" + SIG).encode()
    assert sign_note(TEXT.encode(), signer) == (TEXT + "\n" + SIG).encode()


def test_open_published_note_with_one_known_and_one_unknown_key(verifier: NoteVerifier) -> None:
    assert open_note((TEXT + "\n" + SIG + OTHER_SIG).encode(), [verifier]) == TEXT.encode()


def test_open_published_note_with_both_keys(verifier: NoteVerifier) -> None:
    other = NoteVerifier.from_key_string(V["other_verifier_key"])
    assert open_note((TEXT + "\n" + SIG + OTHER_SIG).encode(), [verifier, other]) == TEXT.encode()
    assert open_note((TEXT + "\n" + OTHER_SIG).encode(), [other]) == TEXT.encode()


def test_key_id_is_sha256_of_name_newline_type_and_key(verifier: NoteVerifier) -> None:
    assert key_id(verifier.name, verifier.public_key) == verifier.key_id


def test_generate_round_trip() -> None:
    skey, vkey = NoteSigner.generate("privtrail.example/unit-test")
    signer = NoteSigner.from_key_string(skey)
    verifier = NoteVerifier.from_key_string(vkey)
    assert signer.verifier() == verifier
    body = b"hello\nworld\n"
    assert open_note(sign_note(body, signer), [verifier]) == body
    assert skey not in repr(signer)
    assert "PRIVATE" not in repr(signer)


@pytest.mark.parametrize("bad", V["bad_verifier_keys"])
def test_published_bad_verifier_keys_are_rejected(bad: str) -> None:
    with pytest.raises(KeyFormatError):
        NoteVerifier.from_key_string(bad)


def test_every_truncation_of_the_published_verifier_key_is_rejected() -> None:
    key = V["verifier_key"]
    for cut in range(1, len(key)):
        with pytest.raises(KeyFormatError):
            NoteVerifier.from_key_string(key[:cut])


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("no-plus-signs", "verifier key must look like <name>"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name ''"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
        ("PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20zz+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a3+!!!!", "not standard base64"),
        ("PeterNeumann+c74f20a3+AQID", r"expected 0x01 \(Ed25519\) and 32 key bytes, got 3"),
        (
            "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "got 33 bytes starting with 0x65",
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "key id c74f20a4 does not match key 'PeterNeumann' \\(expected c74f20a3\\)",
        ),
    ],
)
def test_verifier_key_errors(key: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        NoteVerifier.from_key_string(key)


def test_verifier_rejects_short_public_key() -> None:
    with pytest.raises(KeyFormatError, match="public key must be 32 bytes, got 31"):
        NoteVerifier("name", 0, bytes(31))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "must look like"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a3", "must look like PRIVATE\\+KEY"),
        (
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "c74f20a4",
        ),
        (
            "PRIVATE+KEY+Peter+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "does not match",
        ),
    ],
)
def test_signer_key_errors(key: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        NoteSigner.from_key_string(key)


def test_generate_rejects_bad_name() -> None:
    with pytest.raises(KeyFormatError, match="invalid key name 'a\\+b'"):
        NoteSigner.generate("a+b")


# --- sign_note / open_note failure branches -------------------------------------------------


def test_sign_rejects_text_without_final_newline(signer: NoteSigner) -> None:
    with pytest.raises(VerificationError, match="note text must end with a newline"):
        sign_note("abc", signer)


def test_sign_rejects_invalid_utf8(signer: NoteSigner) -> None:
    with pytest.raises(VerificationError, match="note text must be UTF-8"):
        sign_note(b"\xff\n", signer)


def test_sign_rejects_control_characters(signer: NoteSigner) -> None:
    with pytest.raises(VerificationError, match="control character 0x09"):
        sign_note("a\tb\n", signer)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (TEXT.encode(), "no blank line between text and signatures"),
        ((TEXT + "\n").encode(), "signature block must end with a newline"),
        ((TEXT + "\n" + SIG[:-1]).encode(), "signature block must end with a newline"),
        (b"\x01" + (TEXT + "\n" + SIG).encode(), "control character 0x01"),
        (b"\xff" + (TEXT + "\n" + SIG).encode(), "not valid UTF-8"),
        ((TEXT + "\n" + SIG.replace("PeterNeumann", "Bad Name")).encode(), "line 1 is not"),
        ((TEXT + "\n" + SIG + "Unexpected line.\n").encode(), "line 2 does not start with an em"),
        ((TEXT + "\n- PeterNeumann AAAA\n").encode(), "line 1 does not start with an em dash"),
        ((TEXT + "\n\u2014 PeterNeumann\n").encode(), "line 1 is not"),
        ((TEXT + "\n\u2014 PeterNeumann @@@@\n").encode(), "signature line 1 is not base64"),
        ((TEXT + "\n\u2014 PeterNeumann AAAAAA==\n").encode(), "signature line 1 is too short"),
        ((TEXT + "\n" + SIG * 101).encode(), "more than 100 signatures"),
    ],
)
def test_open_rejects_malformed_notes(note: bytes, message: str, verifier: NoteVerifier) -> None:
    with pytest.raises(VerificationError, match="malformed note: .*" + message):
        open_note(note, [verifier])


def test_open_rejects_bad_signature_from_known_key(verifier: NoteVerifier) -> None:
    tampered = SIG[:60] + "ABCD" + SIG[60:]
    with pytest.raises(
        VerificationError, match="invalid signature for key PeterNeumann\\+c74f20a3"
    ):
        open_note((TEXT + "\n" + tampered).encode(), [verifier])


def test_open_rejects_edited_text(verifier: NoteVerifier) -> None:
    edited = TEXT.replace("answer", "ANSWER")
    with pytest.raises(VerificationError, match="invalid signature for key PeterNeumann"):
        open_note((edited + "\n" + SIG).encode(), [verifier])


def test_open_rejects_note_signed_only_by_unknown_keys(verifier: NoteVerifier) -> None:
    with pytest.raises(
        VerificationError,
        match=r"no signature from a trusted key \(signed by EnochRoot\+af0cfe78; "
        r"trusted: PeterNeumann\+c74f20a3\)",
    ):
        open_note((TEXT + "\n" + OTHER_SIG).encode(), [verifier])


def test_open_with_no_trusted_keys() -> None:
    with pytest.raises(VerificationError, match="trusted: none"):
        open_note((TEXT + "\n" + SIG).encode(), [])


def test_same_name_other_key_id_is_ignored_not_trusted(verifier: NoteVerifier) -> None:
    raw = bytearray(base64.b64decode(SIG.split()[-1]))
    raw[0] ^= 1  # same name, different key id: an unknown key, so ignored
    line = f"\u2014 PeterNeumann {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        open_note((TEXT + "\n" + line).encode(), [verifier])


def test_open_rejects_ambiguous_verifiers(verifier: NoteVerifier) -> None:
    clash = NoteVerifier.__new__(NoteVerifier)
    object.__setattr__(clash, "name", verifier.name)
    object.__setattr__(clash, "key_id", verifier.key_id)
    object.__setattr__(clash, "public_key", bytes(32))
    with pytest.raises(VerificationError, match="ambiguous key PeterNeumann\\+c74f20a3"):
        open_note((TEXT + "\n" + SIG).encode(), [verifier, clash])
    # The same verifier twice is harmless.
    assert open_note((TEXT + "\n" + SIG).encode(), [verifier, verifier]) == TEXT.encode()


def test_text_may_contain_blank_lines(signer: NoteSigner, verifier: NoteVerifier) -> None:
    body = "first\n\nthird\n"
    assert open_note(sign_note(body, signer), [verifier]) == body.encode()
