"""The README's callback-signature snippets (Python and Node) accept what pinrelay signs, and only that."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
from typing import Any

import pytest

from worker.callbacks.signing import sign

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "cb-secret-0123456789abcdef0123456789abcdef"
BODY = json.dumps({"id": "9f2c", "state": "delivered", "to": "16365553226"}).encode()


def snippet(language: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## HTTP API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)
    (found,) = [b for b in blocks if "ignatureOk" in b or "signature_ok" in b]
    return found


def test_the_python_snippet_checks_a_real_signature() -> None:
    namespace: dict[str, Any] = {}
    exec(snippet("python"), namespace)  # noqa: S102 - the README's own code, run as documented
    check = namespace["pinrelay_signature_ok"]
    header = sign(SECRET, int(time.time()), BODY)
    assert check(SECRET, header, BODY)
    assert not check(SECRET, header, BODY + b" ")
    assert not check("x" * 40, header, BODY)
    assert not check(SECRET, sign(SECRET, int(time.time()) - 3600, BODY), BODY)
    assert not check(SECRET, "garbage", BODY)


def test_the_node_snippet_checks_a_real_signature() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed; CI needs it for the README's Node snippet (apt nodejs)")
        pytest.skip("node is not installed")
    now = int(time.time())
    cases = [(sign(SECRET, now, BODY), BODY, True), (sign(SECRET, now, BODY), BODY + b" ", False),
             (sign(SECRET, now - 3600, BODY), BODY, False), ("garbage", BODY, False)]
    encoded = json.dumps([[h, base64.b64encode(b).decode()] for h, b, _ in cases])
    harness = snippet("js") + f"\nconst cases = {encoded};\n" + (
        "console.log(JSON.stringify(cases.map(([h, b]) => "
        f"pinrelaySignatureOk({json.dumps(SECRET)}, h, Buffer.from(b, 'base64')))));"
    )
    done = subprocess.run([node, "-e", harness], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [expected for _, _, expected in cases]
