"""Pseudonyms (determinism, key separation, key parsing), settings, and `privtrail pseudonym`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from privtrail.cli.sdk_cmd import pseudonym as pseudonym_cmd
from privtrail.events import looks_personal
from privtrail.sdk import Pseudonymiser, SdkConfigError, SdkSettings
from privtrail.sdk.pseudonym import DEV_KEY_ID, letters, parse_key

pytestmark = pytest.mark.unit

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def test_same_key_same_subject_same_pseudonym() -> None:
    a1 = Pseudonymiser(key=KEY_A, key_id="a")
    a2 = Pseudonymiser(key=bytes(KEY_A), key_id="a-copy")
    assert a1.pseudonym("customer-1") == a2.pseudonym("customer-1")
    assert a1.pseudonym("customer-1") != a1.pseudonym("customer-2")


def test_different_keys_separate_pseudonym_spaces() -> None:
    a = Pseudonymiser(key=KEY_A, key_id="a")
    b = Pseudonymiser(key=KEY_B, key_id="b")
    subjects = [f"customer-{i}" for i in range(1000)]
    assert not {a.pseudonym(s) for s in subjects} & {b.pseudonym(s) for s in subjects}


def test_pseudonym_shape_is_hmac_sha256_in_letters() -> None:
    import hashlib
    import hmac

    p = Pseudonymiser(key=KEY_A, key_id="a").pseudonym("customer-1")
    digest = hmac.new(KEY_A, b"customer-1", hashlib.sha256).digest()[:20]
    assert p == "ps_" + "".join("abcdefghijklmnop"[int(c, 16)] for c in digest.hex())
    assert len(p) == 43 and p.startswith("ps_")
    assert not any(ch.isdigit() for ch in p)


def test_letters_preserve_order_and_never_contain_digits() -> None:
    values = sorted(bytes([i, 255 - i]) for i in range(256))
    encoded = [letters(v) for v in values]
    assert encoded == sorted(encoded)
    assert letters(b"\x00\x0f\xff") == "aaappp"


def test_pseudonyms_never_look_personal() -> None:
    p = Pseudonymiser(key=KEY_A, key_id="a")
    assert not any(looks_personal(p.pseudonym(f"c{i}")) for i in range(20_000))


def test_key_parsing() -> None:
    assert parse_key("hex:" + KEY_A.hex()) == KEY_A
    assert parse_key(KEY_A.hex()) == KEY_A
    assert parse_key("base64:" + base64.b64encode(KEY_A).decode()) == KEY_A
    assert parse_key(base64.b64encode(KEY_B).decode()) == KEY_B
    with pytest.raises(SdkConfigError, match="at least 16"):
        parse_key("hex:00112233")
    with pytest.raises(SdkConfigError, match="not valid hex or base64"):
        parse_key("hex:zz" * 20)
    with pytest.raises(SdkConfigError, match="empty"):
        parse_key("  ")
    with pytest.raises(SdkConfigError) as info:
        parse_key("!!!not-base64!!!", setting="MY_KEY")
    assert info.value.setting == "MY_KEY"


def test_pseudonymiser_checks_and_hides_its_key() -> None:
    with pytest.raises(SdkConfigError):
        Pseudonymiser(key=b"short", key_id="a")
    with pytest.raises(SdkConfigError, match="pseudonym_key_id"):
        Pseudonymiser(key=KEY_A, key_id="has space")
    assert KEY_A.hex() not in repr(Pseudonymiser(key=KEY_A, key_id="a"))
    assert Pseudonymiser.dev().is_dev and Pseudonymiser.dev().key_id == DEV_KEY_ID


ENV = {"PRIVTRAIL_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "PRIVTRAIL_SERVICE": "billing"}


def test_settings_from_env_and_key_rules() -> None:
    with pytest.raises(SdkConfigError) as info:
        SdkSettings.from_env(ENV).pseudonymiser()
    assert info.value.setting == "PRIVTRAIL_PSEUDONYM_KEY"
    assert "PRIVTRAIL_SDK_DEV_MODE" in str(info.value)
    dev = SdkSettings.from_env({**ENV, "PRIVTRAIL_SDK_DEV_MODE": "1"})
    assert dev.pseudonymiser().is_dev
    keyed = SdkSettings.from_env(
        {**ENV, "PRIVTRAIL_PSEUDONYM_KEY": KEY_A.hex(), "PRIVTRAIL_PSEUDONYM_KEY_ID": "2026-01"}
    )
    assert keyed.pseudonymiser().pseudonym("c") == Pseudonymiser(KEY_A, "x").pseudonym("c")
    assert KEY_A.hex() not in repr(keyed)
    with pytest.raises(SdkConfigError) as info:
        SdkSettings.from_env({**ENV, "PRIVTRAIL_PSEUDONYM_KEY": KEY_A.hex()}).pseudonymiser()
    assert info.value.setting == "PRIVTRAIL_PSEUDONYM_KEY_ID"


def test_settings_name_the_bad_variable(tmp_path: Path) -> None:
    with pytest.raises(SdkConfigError) as info:
        SdkSettings.from_env({"PRIVTRAIL_SERVICE": "x"})
    assert info.value.setting == "PRIVTRAIL_BOOTSTRAP_SERVERS"
    for var, value in [
        ("PRIVTRAIL_SPOOL_FSYNC", "sometimes"),
        ("PRIVTRAIL_SDK_QUEUE_SIZE", "0"),
        ("PRIVTRAIL_SPOOL_MAX_BYTES", "lots"),
        ("PRIVTRAIL_SDK_ON_INVALID", "ignore"),
    ]:
        with pytest.raises(SdkConfigError) as info:
            SdkSettings.from_env({**ENV, var: value})
        assert info.value.setting == var


def test_settings_values_and_producer_options() -> None:
    s = SdkSettings.from_env(
        {
            **ENV,
            "PRIVTRAIL_INSTANCE": "pod-3",
            "PRIVTRAIL_SPOOL_FSYNC": "always",
            "PRIVTRAIL_SDK_QUEUE_SIZE": "500",
            "PRIVTRAIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "PRIVTRAIL_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "PRIVTRAIL_KAFKA_SASL_USERNAME": "svc",
            "PRIVTRAIL_KAFKA_SASL_PASSWORD": "not-a-real-secret",
        },
        topic="custom",
    )
    assert (s.spool_fsync, s.queue_size, s.topic) == ("always", 500, "custom")
    assert s.resolved_spool_dir().name == "billing-pod-3"
    assert "not-a-real-secret" not in repr(s)
    assert s.producer_config() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "not-a-real-secret",
    }


def test_pseudonym_command_recomputes_with_the_key() -> None:
    expected = Pseudonymiser(KEY_A, "k").pseudonym("customer-1")
    runner = CliRunner()
    env = {"INVESTIGATOR_KEY": KEY_A.hex(), "PRIVTRAIL_PSEUDONYM_KEY_ID": "k"}
    result = runner.invoke(pseudonym_cmd, ["customer-1", "--key-env", "INVESTIGATOR_KEY"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected
    result = runner.invoke(
        pseudonym_cmd, ["-", "--key-env", "INVESTIGATOR_KEY", "-v"], env=env, input="customer-1\n"
    )
    assert result.output.strip() == f"{expected} k"


def test_pseudonym_command_without_key_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from privtrail.cli.main import main

    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["pseudonym", "c1", "--key-env", "NOPE_KEY"])
    # main() renders library errors as one line and exit code 2
    assert info.value.code == 2
    assert "NOPE_KEY: not set" in capsys.readouterr().err
