"""Gates: allowlist, rate limits (token buckets with a fake clock), argument guards."""

from __future__ import annotations

import pytest

from callisto.tools import (
    Allowlist,
    ArgumentGuard,
    ErrorCode,
    Rate,
    RateLimit,
    TokenBucket,
    Toolbox,
    ToolCall,
    ToolExecutor,
    no_null_bytes,
    no_path_traversal,
    read_only_sql,
    tool,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@tool
def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@tool
def query(sql: str, note: str = "") -> str:
    """Run a query."""
    return "rows"


@tool
def ping() -> str:
    """Ping."""
    return "pong"


def run(executor: ToolExecutor, name: str, args: str = "{}", caller: str | None = None) -> object:
    return executor.execute_all_sync([ToolCall("c", name, args)], caller=caller)[0].code


def test_allowlist_per_caller() -> None:
    gate = Allowlist({"alice": ["read_file"], "root": ["*"]}, default=["ping"])
    with ToolExecutor(Toolbox([read_file, ping]), gates=[gate]) as ex:
        assert run(ex, "read_file", '{"path": "a"}', "alice") is None
        assert run(ex, "ping", caller="alice") is ErrorCode.FORBIDDEN
        assert run(ex, "ping", caller="root") is None
        assert run(ex, "ping", caller="stranger") is None
        assert run(ex, "ping") is None
        assert run(ex, "read_file", '{"path": "a"}') is ErrorCode.FORBIDDEN


def test_token_bucket_refills_with_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(2, per=1.0), clock)
    assert bucket.take() and bucket.take()
    assert not bucket.take()
    assert bucket.retry_after() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take()
    assert not bucket.take()
    clock.now += 100  # never more than the capacity
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_rate_limit_per_tool_and_per_caller() -> None:
    clock = FakeClock()
    gate = RateLimit(per_tool={"ping": Rate(3, per=60)}, per_caller=Rate(2, per=60), clock=clock)
    with ToolExecutor(Toolbox([ping, read_file]), gates=[gate]) as ex:
        assert run(ex, "ping", caller="a") is None
        assert run(ex, "ping", caller="a") is None
        assert run(ex, "ping", caller="a") is ErrorCode.RATE_LIMITED  # a's own budget
        assert run(ex, "ping", caller="b") is None
        assert run(ex, "ping", caller="c") is ErrorCode.RATE_LIMITED  # ping's shared budget
        # c was refused by ping's bucket, so c's own bucket kept its tokens.
        assert run(ex, "read_file", '{"path": "x"}', caller="c") is None
        assert run(ex, "read_file", '{"path": "x"}', caller="c") is None
        clock.now += 60
        assert run(ex, "ping", caller="c") is None


def test_rate_limited_message_says_when() -> None:
    gate = RateLimit(default_tool_rate=Rate(1, per=10), clock=FakeClock())
    with ToolExecutor(Toolbox([ping]), gates=[gate]) as ex:
        ex.execute_all_sync([ToolCall("c", "ping", "{}")])
        result = ex.execute_all_sync([ToolCall("c", "ping", "{}")])[0]
    assert result.code is ErrorCode.RATE_LIMITED
    assert "try again in 10 s" in result.output


def test_rate_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Rate(0)


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "a/../../b",
        "..\\windows",
        "%2e%2e/secret",
        "/etc/passwd",
        "C:\\x",
        "~/.ssh",
    ],
)
def test_path_traversal_refused(path: str) -> None:
    assert no_path_traversal(path)


@pytest.mark.parametrize("path", ["notes/today.txt", "a..b/c", "file...txt", "./x"])
def test_ordinary_paths_pass(path: str) -> None:
    assert no_path_traversal(path) is None


def test_null_bytes() -> None:
    assert no_null_bytes("a\x00b")
    assert no_null_bytes("ab") is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM users WHERE id = 1",
        "select name from t -- drop table t",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT 'delete me' AS label",
        "  (SELECT 1)",
        "EXPLAIN SELECT 1;",
    ],
)
def test_read_only_sql_allows_reads(sql: str) -> None:
    assert read_only_sql(sql) is None


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM users",
        "SELECT 1; DROP TABLE users",
        "WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
        "SELECT * INTO backup FROM users",
        "SELECT * FROM t FOR UPDATE",
        "PRAGMA writable_schema = 1",
        "",
        "update t set a = 1 /* SELECT */",
    ],
)
def test_read_only_sql_refuses_writes(sql: str) -> None:
    assert read_only_sql(sql)


def test_guards_scoped_to_fields_and_tools() -> None:
    guards = [
        ArgumentGuard(no_path_traversal, fields={"path"}),
        ArgumentGuard(read_only_sql, tools={"query"}, fields={"sql"}),
        ArgumentGuard(no_null_bytes),
    ]
    with ToolExecutor(Toolbox([read_file, query]), gates=guards) as ex:
        assert run(ex, "read_file", '{"path": "../x"}') is ErrorCode.FORBIDDEN
        assert run(ex, "read_file", '{"path": "docs/x"}') is None
        assert run(ex, "query", '{"sql": "SELECT 1", "note": "../fine here"}') is None
        assert run(ex, "query", '{"sql": "DROP TABLE t"}') is ErrorCode.FORBIDDEN
        assert run(ex, "query", '{"sql": "SELECT 1", "note": "a\\u0000b"}') is ErrorCode.FORBIDDEN
        result = ex.execute_all_sync([ToolCall("c", "read_file", '{"path": "/etc/passwd"}')])[0]
    assert "argument path is an absolute path" in result.output


def test_guard_checks_nested_strings() -> None:
    @tool
    def copy(files: list[dict[str, str]]) -> str:
        """Copy files."""
        return "ok"

    with ToolExecutor(
        Toolbox([copy]), gates=[ArgumentGuard(no_path_traversal, fields={"path"})]
    ) as ex:
        result = ex.execute_all_sync(
            [ToolCall("c", "copy", '{"files": [{"path": "ok"}, {"path": "../../x"}]}')]
        )[0]
    assert result.code is ErrorCode.FORBIDDEN
    assert "files[1].path" in result.output
