"""The code on the README and on docs/*.md runs, against the real thing.

One `pinrelay up --with-sim --api-port N` (its own embedded Redis, under this module's runtime
directory) plays the other terminal the pages ask for. Each page then runs like one terminal: its
Python and shell snippets in the order a reader meets them, each in a fresh `bash` (or `python3`)
that starts with every variable the page's earlier shell snippets set (`set -a`), and with
`set -euo pipefail`, so a failing command or pipeline, or a placeholder left in (an unset
variable, `<id>`), fails it. Every snippet must exit 0, print no API error body and no
traceback; what it prints is checked where that means something (``EXPECT``).

The environment is what the pages say a reader needs: `pinrelay` and `python3` on PATH (this
virtualenv), `PINRELAY_RUNTIME_DIR` of the running `up` (the commands and the Python API find its
Redis there, as a second terminal does), the per-number limits off (the examples send to one
number more often than the defaults allow; the README says so), `PINRELAY_VERIFY_SECRET`, and
`BROKER_URL` (the Celery example's broker: `up`'s Redis). The API's documented address,
``127.0.0.1:8081``, is replaced by the one this stack got.

A snippet that cannot run here carries ``<!-- snippet: not-run (why) -->`` on the line before its
fence, and ``NOT_RUN`` lists every one: an unmarked new snippet runs by default. Fences in other
languages are not run, except the Node callback checker, which runs against a signature pinrelay
made (as does its Python twin).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import Command, command_env
from tests.support.waiting import wait_for
from worker.callbacks.signing import sign
from worker.local.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
DOCUMENTED_API = "127.0.0.1:8081"
MARK = re.compile(r"<!-- snippet: not-run \((.+)\) -->")

# (page, the snippet's first command): every snippet marked not-run (the mark says why).
NOT_RUN = {
    ("README.md", "python3 dev.py demo"),  # the demo and the whole suite: CI runs both
    ("docs/http-api.md", "pinrelay api --port 8081"),  # a server in the foreground: `up` plays its part
    ("docs/http-api.md", "curl -sS -X POST \"$API/v1/guard/unblock\" -H \"Authorization: Bearer $ADMIN\" \\"),
    ("docs/guard-operations.md", "pinrelay guard unblock 1636555"),  # needs a blocked prefix (ditto)
}

# (page, a piece of the snippet): a pattern its standard output must match.
SETTLED = r"(submitted|accepted|delivered|failed|expired|rejected|unknown)"
EXPECT = {
    ("README.md", "worker.send_pin("): rf"(?m)^{SETTLED}$",
    ("README.md", "app.send_task("): r"(?m)^[0-9a-f-]{36}$",
    ("README.md", "pinrelay send 16365553226"): rf'"state": "{SETTLED}"',
    ("README.md", "/v1/pins"): r'^\{"id":"[0-9a-f]{32}"\}',
    ("README.md", "worker.start_verification("): r"'status': '(wrong_code|approved)'",
    ("docs/sending.md", "client_ref=\"login-7f3a\")\nrecord"): rf"(?m)^{SETTLED} \w+\n{SETTLED}\n2$",
    ("docs/sending.md", "except worker.ValidationError"): r"did you mean 1415555\*\*\*\*",
    ("docs/sending.md", "--pin-stdin"): rf'"state": "{SETTLED}"',
    ("docs/verify.md", "worker.start_verification("): r"'state': 'pending'",
    ("docs/verify.md", "pinrelay verify status"):
        r'"status": "wrong_code"[\s\S]*not in[\s\S]*"state": "pending"',
    ("docs/http-api.md", "/v1/pins/$id"): r'"id":"[0-9a-f]{32}","to":"16365553226","client_ref":"login-7f3a"',
    ("docs/http-api.md", "/check"): r'"status":\s*"wrong_code"',
    ("docs/routes.md", "pinrelay routes"): r'"state": "closed"',
    ("docs/auth-servers.md", "/v1/hooks/generic/send-sms"): r'^\{"id":"[0-9a-f]{32}"\}',
    ("docs/auth-servers.md", "def pinrelay_signature"): r"(?m)^t=[0-9]+,v1=[0-9a-f]{64}$",
    ("docs/auth-servers.md", "whsec_"): r"(?m)^v1,whsec_[A-Za-z0-9+/]{43}=$",
    ("docs/operating.md", "pinrelay report --since 1h"): r"delivered",
    ("docs/http-api.md", "/v1/guard/allow"): r'"safe":\s*true',
    ("docs/guard-operations.md", "pinrelay guard status"): r'"mode": "enforce"[\s\S]*"quotas"',
    ("docs/guard-operations.md", "--remove"): r'"added": true[\s\S]*"removed": true',
    ("docs/guard-operations.md", "--top 10"): r"conversion by country",
}


@dataclass
class Snippet:
    page: str
    line: int
    language: str  # a key of LANGUAGES, or another fence's
    code: str
    not_run: str | None  # why, when marked

    @property
    def first_command(self) -> str:
        return self.code.splitlines()[0].partition("#")[0].strip() if self.code else ""


def snippets(page: Path) -> list[Snippet]:
    """Every fenced block of ``page`` with a language, in order; a malformed mark fails here."""
    found: list[Snippet] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    name = page.relative_to(ROOT).as_posix()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("<!-- snippet:"):
            assert MARK.fullmatch(line), f"{name}:{index + 1}: write <!-- snippet: not-run (why) -->"
            assert index + 1 < len(lines) and lines[index + 1].startswith("```"), \
                f"{name}:{index + 1}: a snippet mark must be right before its fence"
        if line.startswith("```"):
            language = line[3:].strip()
            end = lines.index("```", index + 1)
            mark = MARK.fullmatch(lines[index - 1]) if index else None
            if language:
                found.append(Snippet(name, index + 1, language, "\n".join(lines[index + 1:end]) + "\n",
                                     mark.group(1) if mark else None))
            index = end
        index += 1
    return found


def runnable(page: Path) -> list[Snippet]:
    return [s for s in snippets(page) if s.language in LANGUAGES and s.not_run is None]


@dataclass
class Stack:
    env: dict[str, str]
    api: str
    up: Command


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`pinrelay up --with-sim --api-port N` on its own Redis, stopped (its whole group) after."""
    tmp = tmp_path_factory.mktemp("snippets")
    secret = "snippet-verify-secret-0123456789abcdef"
    common = {"PINRELAY_RUNTIME_DIR": str(tmp / "state"), "PINRELAY_PER_NUMBER_10MIN": "0",
              "PINRELAY_PER_NUMBER_DAY": "0", "PINRELAY_VERIFY_SECRET": secret}
    api_port = free_port()
    up = Command.start(tmp, "up", command_env(**common, PINRELAY_LOG_FORMAT="console"), "up",
                       "--webhook-port", str(free_port()), "--workers", "1", "--with-sim",
                       "--api-port", str(api_port))

    def status() -> dict[str, Any] | None:
        assert up.alive, up.stderr()
        line = up.stdout().partition("\n")[0]
        return json.loads(line) if line else None

    try:
        shown = wait_for(status, 60, "pinrelay up to print its status line")
        bin_dir = str(Path(sys.executable).parent)
        env = command_env(**common, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                          BROKER_URL=shown["redis"])
        yield Stack(env, shown["api"].removeprefix("http://"), up)
    finally:
        os.killpg(up.process.pid, signal.SIGTERM)
        try:
            up.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait()
            raise AssertionError(f"pinrelay up did not stop within 45 s:\n{up.stderr()}") from None


def run_snippet(snippet: Snippet, stack: Stack, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``snippet`` in a fresh shell (or python3) of the page's terminal: ``cwd/.state`` holds what
    the earlier snippets exported, and this one's exports are added to it."""
    state = cwd / ".state"
    state.touch()
    code = snippet.code.replace(DOCUMENTED_API, stack.api)
    if LANGUAGES[snippet.language] == "python":
        (cwd / "snippet.py").write_text(code)
        script = f'set -a\n. "{state}"\nset +a\nexec python3 snippet.py\n'
    else:
        script = f'set -a\n. "{state}"\nset -euo pipefail\n{code}\nexport -p > "{state}"\n'
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=stack.env, capture_output=True, text=True,
                          timeout=60, check=False)


def expected(snippet: Snippet) -> list[str]:
    return [pattern for (page, piece), pattern in EXPECT.items()
            if page == snippet.page and piece in snippet.code]


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: p.name)
def test_every_snippet_of_the_page_runs(page: Path, stack: Stack, tmp_path: Path) -> None:
    ran: dict[str, str] = {}
    for snippet in runnable(page):
        done = run_snippet(snippet, stack, tmp_path)
        where = f"{snippet.page}:{snippet.line} ({snippet.language})"
        assert done.returncode == 0, \
            f"{where} exited {done.returncode}:\n{snippet.code}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr, f"{where}:\n{done.stderr}"
        assert '{"error"' not in done.stdout, f"{where} got an API error:\n{done.stdout}"
        for pattern in expected(snippet):
            assert re.search(pattern, done.stdout), f"{where} printed no {pattern!r}:\n{done.stdout}"
        ran[snippet.code] = done.stdout
    if page.name == "README.md":
        # The Celery example's task id is the request id: pinrelay knows that send and sent it.
        task_id = next(out.strip() for code, out in ran.items() if "app.send_task(" in code)
        waited = subprocess.run(["pinrelay", "wait", task_id, "--timeout", "30"], env=stack.env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["state"] in SETTLED.strip("()").split("|")
    if page.name == "operating.md":
        assert (tmp_path / "report.html").stat().st_size > 10_000


def test_every_expectation_names_a_snippet_that_runs() -> None:
    """An EXPECT entry that matches no runnable snippet (a page changed) fails instead of passing."""
    codes = [(s.page, s.code) for page in PAGES for s in runnable(page)]
    stale = [key for key in EXPECT if not any(page == key[0] and key[1] in code for page, code in codes)]
    assert stale == []


def test_the_snippets_that_do_not_run_are_listed() -> None:
    """Marking a snippet not-run is a decision this list records; the why is in the mark."""
    marked = {(s.page, s.first_command) for page in PAGES for s in snippets(page) if s.not_run is not None}
    assert marked == NOT_RUN


# The callback checkers of docs/sending.md, against signatures pinrelay made.
SECRET = "cb-secret-0123456789abcdef0123456789abcdef"
BODY = json.dumps({"id": "9f2c", "state": "delivered", "to": "16365553226"}).encode()


def checker(language: str) -> str:
    page = ROOT / "docs" / "sending.md"
    (found,) = [s.code for s in snippets(page)
                if s.language == language and ("ignatureOk" in s.code or "signature_ok" in s.code)]
    return found


EVENT = "5f0e6a4b2c1d4e8f9a7b6c5d4e3f2a1b"
KEY = "key_0123456789abcdef"


def test_the_python_callback_checker_checks_a_real_signature() -> None:
    """v2: the body, the event id and the receiver's own key id, within the tolerance."""
    namespace: dict[str, Any] = {}
    exec(checker("python"), namespace)  # noqa: S102 - the page's own code, run as documented
    check = namespace["pinrelay_signature_ok"]
    now = int(time.time())
    header = sign(SECRET, now, BODY, event_id=EVENT, key_id=KEY)
    assert check(SECRET, header, BODY, EVENT, KEY)
    assert not check(SECRET, header, BODY + b" ", EVENT, KEY)
    assert not check(SECRET, header, BODY, EVENT, "key_another_service")  # re-aimed at another key
    assert not check(SECRET, header, BODY, "0" * 32, KEY)  # with a fresh event id
    assert not check("x" * 40, header, BODY, EVENT, KEY)
    assert not check(SECRET, sign(SECRET, now - 3600, BODY, event_id=EVENT, key_id=KEY), BODY, EVENT, KEY)
    assert not check(SECRET, "garbage", BODY, EVENT, KEY)
    assert check(SECRET, sign(SECRET, now, BODY, event_id=EVENT), BODY, EVENT, "")  # a send without a key


def test_the_node_callback_checker_checks_a_real_signature() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed; CI needs it for docs/sending.md's Node snippet (apt nodejs)")
        pytest.skip("node is not installed")
    now = int(time.time())
    good = sign(SECRET, now, BODY, event_id=EVENT, key_id=KEY)
    cases = [(good, BODY, KEY, True), (good, BODY + b" ", KEY, False), (good, BODY, "key_other", False),
             (sign(SECRET, now - 3600, BODY, event_id=EVENT, key_id=KEY), BODY, KEY, False),
             ("garbage", BODY, KEY, False)]
    encoded = json.dumps([[h, base64.b64encode(b).decode(), k] for h, b, k, _ in cases])
    harness = checker("js") + f"\nconst cases = {encoded};\n" + (
        "console.log(JSON.stringify(cases.map(([h, b, k]) => "
        f"pinrelaySignatureOk({json.dumps(SECRET)}, h, Buffer.from(b, 'base64'), {json.dumps(EVENT)}, k))));"
    )
    done = subprocess.run([node, "-e", harness], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [expected for _, _, _, expected in cases]
