"""The Lua scripts in worker/lua: each loads in Redis, says what it takes, and its errors point at it."""

from __future__ import annotations

import hashlib
import pathlib
import re
import tomllib

import pytest
import redis

import worker.lua
from worker import lua
from worker.config import Settings

ROOT = pathlib.Path(__file__).resolve().parents[2]
LUA_DIR = pathlib.Path(worker.lua.__file__).parent


def _error_line(exc: redis.ResponseError) -> int:
    """The script line a Redis (7) script error names: ``... on @user_script:N.``"""
    found = re.search(r"@user_script:(\d+)", str(exc))
    assert found, str(exc)
    return int(found.group(1))


def _line_of(name: str, text: str) -> int:
    """The 1-based line of ``<name>.lua`` holding ``text`` (which must be there once)."""
    hits = [i for i, line in enumerate(lua.source(name).splitlines(), 1) if text in line]
    assert len(hits) == 1, (name, text, hits)
    return hits[0]


def test_every_lua_file_is_a_script_or_the_prelude() -> None:
    """names() lists exactly the .lua files of the package, without the prelude and the libraries."""
    files = sorted(p.stem for p in LUA_DIR.glob("*.lua"))
    assert lua.names() == [f for f in files if f != "prelude" and f not in lua.LIBRARIES]
    assert set(lua.LIBRARIES) <= set(files)
    assert "prelude" in files
    assert len(lua.names()) >= 11


@pytest.mark.parametrize("name", lua.names())
def test_every_script_loads_in_redis(name: str, redis_client: redis.Redis) -> None:
    """SCRIPT LOAD accepts each rendered script (it compiles), under the SHA redis-py computes."""
    text = lua.script(name)
    sha = redis_client.script_load(text)
    assert sha == hashlib.sha1(text.encode()).hexdigest()
    assert redis_client.script_exists(sha) == [True]


@pytest.mark.parametrize("name", [*lua.names(), "prelude"])
def test_every_file_has_a_header(name: str) -> None:
    """Each file opens with a comment naming itself; a script's header states KEYS, ARGV and reply."""
    lines = lua.source(name).splitlines()
    code_starts = next(i for i, line in enumerate(lines) if not line.startswith("--"))
    header = "\n".join(lines[:code_starts])
    assert header.startswith(f"-- {name}.lua: "), lines[0]
    if name != "prelude":
        assert "\n-- KEYS" in header and "\n-- ARGV" in header and "\n-- Returns" in header, name


def test_prelude_is_prepended_only_where_asked() -> None:
    """A script that asks for the prelude gets it in front; any other is its file unchanged."""
    for name in lua.names():
        if lua.requires_prelude(name):
            libraries = "".join(lua.source(lib) for lib in lua.required(name)[1:])
            assert lua.script(name) == lua.prelude() + libraries + lua.source(name)
        else:
            assert lua.script(name) == lua.source(name)
    assert lua.requires_prelude("claim") and not lua.requires_prelude("rate_pause")


def test_generated_definitions_keep_the_prelude_lines() -> None:
    """The generated part is one line's start: the prelude file's lines keep their numbers."""
    assert "\n" not in lua.generated()
    rendered = lua.prelude().splitlines()
    assert rendered[0].startswith(lua.generated())
    assert rendered[0].removeprefix(lua.generated()) == lua.source("prelude").splitlines()[0]
    assert rendered[1:] == lua.source("prelude").splitlines()[1:]
    assert len(rendered) == lua.PRELUDE_LINES


def test_an_error_in_a_script_names_its_own_line(settings: Settings, redis_client: redis.Redis) -> None:
    """A Redis error in finish.lua's own code maps back to the line of finish.lua that failed."""
    finish = redis_client.register_script(lua.script("finish"))
    prefix = settings.key_prefix
    redis_client.hset(f"{prefix}req:r1", "state", "no_such_state")  # T[cur] is nil: indexing it fails
    with pytest.raises(redis.ResponseError) as caught:
        finish(keys=[f"{prefix}req:r1", f"{prefix}pin:r1"], args=[prefix, "1", "submitted", "60", ""])
    assert lua.origin("finish", _error_line(caught.value)) == (
        "finish.lua", _line_of("finish", "if T[cur][target] then"))


def test_an_error_in_the_prelude_names_its_line(settings: Settings, redis_client: redis.Redis) -> None:
    """A Redis error inside the prelude's unpark() maps back to prelude.lua, not the script."""
    finish = redis_client.register_script(lua.script("finish"))
    prefix = settings.key_prefix
    redis_client.hset(f"{prefix}req:r2", mapping={"state": "sending", "to": "1636"})
    # a status that is a JSON object: apply() cannot lower-case it
    redis_client.rpush(f"{prefix}parked:m2", '{"messageId": "m2", "status": {}, "msisdn": "1636"}')
    with pytest.raises(redis.ResponseError) as caught:
        finish(keys=[f"{prefix}req:r2", f"{prefix}pin:r2"], args=[prefix, "1", "submitted", "60", "m2"])
    assert lua.origin("finish", _error_line(caught.value)) == (
        "prelude.lua", _line_of("prelude", "local status = string.lower(r['status'] or '')"))


def test_an_error_in_a_plain_script_names_its_line(settings: Settings, redis_client: redis.Redis) -> None:
    """Without the prelude, the line Redis names is the file's line."""
    pause = redis_client.register_script(lua.script("rate_pause"))
    with pytest.raises(redis.ResponseError) as caught:
        pause(keys=[f"{settings.key_prefix}rate:bucket"], args=["not a number"])  # arithmetic on nil
    assert lua.origin("rate_pause", _error_line(caught.value)) == (
        "rate_pause.lua", _line_of("rate_pause", "local untilms = now + tonumber(ARGV[1])"))


def test_unknown_names_are_refused() -> None:
    """A typo or a path is an error naming the scripts there are, not a file read elsewhere."""
    with pytest.raises(ValueError, match=r"there are: .*\bclaim\b"):
        lua.script("clam")
    with pytest.raises(ValueError, match="not a Lua script name"):
        lua.source("../states")
    with pytest.raises(ValueError, match="not a script of its own"):
        lua.script("prelude")


def test_no_lua_in_python_files() -> None:
    """The product code carries no Lua: every redis.call lives in a .lua file."""
    sources = [p for top in ("worker", "webhook", "ops") for p in (ROOT / top).rglob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in sources if "redis.call(" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_the_scripts_are_package_data() -> None:
    """A wheel ships the .lua files (setuptools would leave them out otherwise)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["setuptools"]["package-data"]["worker.lua"] == ["*.lua"]


def test_a_library_runs_between_the_prelude_and_its_script() -> None:
    """create.lua asks for the guard library: the script is prelude + guard.lua + create.lua, and
    a line of each maps back to its own file."""
    assert lua.required("create") == ("prelude", "guard")
    text = lua.script("create")
    assert text.index("local function guard_admit") < text.index("-- create.lua:")
    guard_line = lua.PRELUDE_LINES + _line_of("guard", "local function guard_admit")
    assert lua.origin("create", guard_line) == ("guard.lua", _line_of("guard", "local function guard_admit"))
    create_line = lua.PRELUDE_LINES + lua.source("guard").count("\n") + 1
    assert lua.origin("create", create_line) == ("create.lua", 1)
    with pytest.raises(ValueError, match="not a script of its own"):
        lua.script("guard")
