"""The standalone offline verifier, tools/privtrail_verify_proof.py: in-process and as a
separate ``python -I`` process that cannot import privtrail."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from privtrail.tlog import (
    Checkpoint,
    ConsistencyBundle,
    MerkleTree,
    NoteSigner,
    ProofBundle,
    VerificationError,
    leaf_hash,
    root_from_leaf_hashes,
    sign_checkpoint,
)

pytestmark = pytest.mark.unit

TOOL = Path(__file__).resolve().parents[2] / "tools" / "privtrail_verify_proof.py"
ORIGIN = "privtrail.example/unit/privacy.events.valid/1"


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("privtrail_verify_proof", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _event(i: int) -> bytes:
    obj = {
        "event_id": f"ev-{i}",
        "type": "used",
        "purpose": "billing",
        "reason": "r\u00e9sum\u00e9",
    }
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Log:
    """A small signed log written to ``tmp``: events, leaf hashes, checkpoints, a bundle."""

    def __init__(self, tmp: Path, size: int = 19) -> None:
        skey, self.vkey = NoteSigner.generate("privtrail.example/unit")
        self.signer = NoteSigner.from_key_string(skey)
        self.events = [_event(i) for i in range(size)]
        self.hashes = [leaf_hash(e) for e in self.events]
        self.tmp = tmp
        self.note = self.checkpoint(size)

    def checkpoint(self, size: int, hashes: list[bytes] | None = None) -> bytes:
        root = root_from_leaf_hashes((hashes or self.hashes)[:size])
        return sign_checkpoint(Checkpoint(ORIGIN, size, root), self.signer)

    def bundle(self, index: int = 9, **changes: Any) -> Path:
        b = ProofBundle.build(
            self.events[index], index, self.hashes, self.note, self.signer.verifier()
        )
        data = json.loads(b.to_json())
        data.update(changes)
        path = self.tmp / f"bundle-{len(list(self.tmp.iterdir()))}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    def write(self, name: str, content: bytes | str) -> Path:
        path = self.tmp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = tool.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- in process ---------------------------------------------------------------------------------


def test_good_bundle_with_pinned_key(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([log.bundle(), "--key", log.vkey, "--origin", ORIGIN], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"OK: event ev-9 is leaf 9 of {ORIGIN} at tree size 19, root ")
    assert "compare it out of band" not in out


def test_good_bundle_with_bundled_key_warns(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([log.bundle()], capsys)
    assert code == 0
    assert "key taken from the bundle: compare it out of band" in out


def test_key_file(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    key = log.write("log.pub", log.vkey + "\n")
    assert _run([log.bundle(), "--key-file", key], capsys)[0] == 0


def _edited_event(log: Log) -> str:
    obj = json.loads(log.events[9])
    obj["purpose"] = "marketing"
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("edited event", {"event": "EDITED"}, "inclusion proof for leaf 9 leads to root"),
    ("non-canonical", {"event": '{"b":1, "a":2}'}, "event is not in canonical form"),
    ("not an object", {"event": "[]"}, "event must be a JSON object"),
    ("not JSON", {"event": "{"}, "event is not valid JSON"),
    ("other leaf", {"leaf_index": 8}, "inclusion proof for leaf 8 leads to root"),
    ("past the end", {"leaf_index": 19}, "leaf index 19 is not less than tree size 19"),
    ("negative", {"leaf_index": -1}, "leaf index and tree size must be non-negative"),
    ("size", {"tree_size": 18}, "checkpoint is for tree size 19, but the proof is for 18"),
    ("short proof", {"inclusion_proof": []}, "inclusion proof has 0 hashes, expected 5"),
    ("bad hash", {"inclusion_proof": ["00"]}, r"inclusion_proof\[0\] is not a 32-byte hex hash"),
    ("bad field", {"leaf_index": "9"}, "bundle field 'leaf_index' is missing or has the wrong"),
    ("both forms", {"event_b64": ""}, "needs exactly one of 'event' or 'event_b64'"),
    ("bad key", {"verifier_key": "x+y+z"}, "verifier key id must be 8 hex digits"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tampered_bundles_fail_in_both_verifiers(
    log: Log, capsys: pytest.CaptureFixture[str], change: dict[str, Any], message: str
) -> None:
    if change.get("event") == "EDITED":
        change = {"event": _edited_event(log)}
    path = log.bundle(**change)
    code, out, err = _run([path], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("FAILED: ")
    assert __import__("re").search(message, err), err
    # The library agrees that the bundle is bad.
    with pytest.raises(VerificationError):
        ProofBundle.from_json(path.read_text(encoding="utf-8")).verify()


def test_flipped_proof_bit(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(log.bundle().read_text(encoding="utf-8"))
    h = data["inclusion_proof"][2]
    data["inclusion_proof"][2] = h[:10] + ("0" if h[10] != "0" else "1") + h[11:]
    code, _, err = _run([log.write("flip.json", json.dumps(data))], capsys)
    assert code == 1 and "leads to root" in err


def test_checkpoint_by_another_key_with_pinned_key(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    forger = NoteSigner.from_key_string(NoteSigner.generate("privtrail.example/unit")[0])
    root = MerkleTree.from_leaf_hashes(log.hashes).root()
    forged = sign_checkpoint(Checkpoint(ORIGIN, 19, root), forger).decode()
    path = log.bundle(checkpoint=forged, verifier_key=forger.verifier().key_string())
    code, _, err = _run([path, "--key", log.vkey], capsys)
    assert code == 1
    assert "FAILED: checkpoint is not signed by key privtrail.example/unit+" in err


def test_edited_checkpoint_text(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    path = log.bundle(checkpoint=log.note.decode().replace("\n19\n", "\n20\n"))
    code, _, err = _run([path], capsys)
    assert code == 1 and "FAILED: invalid signature for key privtrail.example/unit+" in err


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("no signatures\n", "no blank line before the signatures"),
        ("a\n1\nAAAA\n\n- x y\n", "bad signature line 1"),
        ("a\n1\nAAAA\n\n\u2014 x @@\n", "signature line 1 is not standard base64"),
        ("a\n1\nAAAA\n\n\u2014 x AAAA\n", "signature line 1 is too short"),
        ("a\tb\n\n\u2014 x AAAA\n", "contains a control character"),
    ],
)
def test_malformed_checkpoint_notes(
    log: Log, capsys: pytest.CaptureFixture[str], note: str, message: str
) -> None:
    code, _, err = _run([log.bundle(checkpoint=note)], capsys)
    assert code == 1 and message in err


def test_origin_mismatch(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run([log.bundle(), "--origin", "privtrail.example/other/t/0"], capsys)
    assert code == 1
    assert f"checkpoint is for log '{ORIGIN}', not 'privtrail.example/other/t/0'" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "is not valid JSON"), ('{"version": 2}', "not a version 1 object")],
)
def test_unreadable_bundles(
    log: Log, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    code, _, err = _run([log.write("bad.json", content)], capsys)
    assert code == 1 and message in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run([tmp_path / "nope.json"], capsys)
    assert code == 1 and "cannot read proof bundle" in err


def test_event_b64_bundle(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    data = json.loads(log.bundle().read_text(encoding="utf-8"))
    data["event_b64"] = base64.b64encode(data.pop("event").encode()).decode()
    assert _run([log.write("b64.json", json.dumps(data))], capsys)[0] == 0


# --- consistency --------------------------------------------------------------------------------


def _consistency(log: Log, old: int, new: int, hashes: list[bytes] | None = None) -> list[Path]:
    hs = hashes or log.hashes
    proof = ConsistencyBundle.build(hs, old, new).to_json()
    return [
        log.write(f"old-{old}.note", log.checkpoint(old)),
        log.write(f"new-{new}.note", log.checkpoint(new, hs)),
        log.write(f"proof-{old}-{new}.json", proof),
    ]


def test_consistency_ok(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--consistency", *_consistency(log, 7, 19), "--key", log.vkey], capsys)
    assert code == 0
    assert out.strip() == f"OK: {ORIGIN} at size 7 is a prefix of the same log at size 19"


def test_consistency_detects_a_rewritten_old_entry(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    rewritten = list(log.hashes)
    rewritten[3] = leaf_hash(b"rewritten")
    files = _consistency(log, 7, 19, rewritten)
    code, _, err = _run(["--consistency", *files, "--key", log.vkey], capsys)
    assert code == 1
    assert "consistency proof does not lead to the old checkpoint's root" in err


def test_consistency_size_mismatch(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, _ = _consistency(log, 7, 19)
    proof = log.write("p.json", ConsistencyBundle.build(log.hashes, 6, 19).to_json())
    code, _, err = _run(["--consistency", old, new, proof, "--key", log.vkey], capsys)
    assert code == 1 and "proof is for sizes 6 -> 19, checkpoints are 7 -> 19" in err


def test_consistency_needs_key(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        tool.main(["--consistency", *map(str, _consistency(log, 7, 19))])
    assert exc.value.code == 2
    assert "--consistency needs --key" in capsys.readouterr().err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        tool.main([])
    assert exc.value.code == 2
    assert "give either a proof bundle or --consistency" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (9, 9, None),
        (0, 4, None),
        (12, 9, "old tree size 12 is greater than new tree size 9"),
    ],
)
def test_tool_consistency_edge_cases(old: int, new: int, message: str | None) -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(12)]
    r_old, r_new = root_from_leaf_hashes(hashes[:old]), root_from_leaf_hashes(hashes[:new])
    if message is None:
        tool.verify_consistency(old, new, r_old, r_new, [])
    else:
        with pytest.raises(tool.Failure, match=message):
            tool.verify_consistency(old, new, r_old, r_new, [])


def test_tool_agrees_with_library_on_many_proofs() -> None:
    from privtrail.tlog import consistency_proof, inclusion_proof

    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    for size in range(1, 41):
        root = root_from_leaf_hashes(hashes[:size])
        for index in range(size):
            tool.verify_inclusion(
                hashes[index], index, size, inclusion_proof(hashes, index, size), root
            )
        for old in range(size + 1):
            proof = consistency_proof(hashes, old, size)
            tool.verify_consistency(old, size, root_from_leaf_hashes(hashes[:old]), root, proof)


# --- as a separate process that cannot import privtrail ----------------------------------------


def _subprocess(args: list[str], block: str = "privtrail") -> subprocess.CompletedProcess[str]:
    # -I: isolated mode (no PYTHONPATH, no user site, no cwd on sys.path). The editable install
    # could still expose privtrail through site-packages, so it is also blocked outright.
    runner = (
        "import runpy, sys\n"
        f"for name in {block!r}.split(','): sys.modules[name] = None\n"
        f"sys.argv = [{str(TOOL)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(TOOL)!r}, run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", runner, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


def test_subprocess_isolated_ok_and_failure(log: Log) -> None:
    good = _subprocess([str(log.bundle()), "--key", log.vkey])
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("OK: event ev-9 is leaf 9 of")
    bad = _subprocess([str(log.bundle(leaf_index=3))])
    assert bad.returncode == 1
    assert bad.stderr.startswith("FAILED: inclusion proof for leaf 3 leads to root")


def test_subprocess_plain_script_invocation(log: Log) -> None:
    done = subprocess.run(
        [sys.executable, "-I", str(TOOL), str(log.bundle())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_subprocess_without_cryptography_says_what_to_install(log: Log) -> None:
    done = _subprocess([str(log.bundle())], block="privtrail,cryptography")
    assert done.returncode == 1
    assert "install the 'cryptography' package" in done.stderr


def test_tool_imports_only_the_standard_library() -> None:
    tree = ast.parse(TOOL.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    assert names - set(sys.stdlib_module_names) == {"cryptography"}
