"""The tools layer's typed values: server specs from the command line, tool definitions, results."""

from __future__ import annotations

import json

import pytest

from workbench.tools.specs import ServerSpec, ToolDef, ToolResult, parse_server_option


def test_server_option_is_split_as_a_shell_would() -> None:
    spec = parse_server_option("files=my-mcp-server --root 'my docs' -v")
    assert spec == ServerSpec("files", command=("my-mcp-server", "--root", "my docs", "-v"))
    assert spec.transport == "stdio" and spec.describe() == "my-mcp-server --root 'my docs' -v"
    web = parse_server_option("desk=http://127.0.0.1:9000/mcp", url=True)
    assert web.transport == "http" and web.url == "http://127.0.0.1:9000/mcp" and web.command == ()
    assert hash(spec) != hash(web)


@pytest.mark.parametrize(
    ("text", "url", "message"),
    [
        ("no-equals", False, "expected NAME=COMMAND"),
        ("=cmd", False, "expected NAME=COMMAND"),
        ("x=", False, "expected NAME=COMMAND"),
        ("x=cmd 'unclosed", False, "No closing quotation"),
        ("bad name=cmd", False, "MCP server name 'bad name'"),
        ("x=ftp://h/mcp", True, "must start with http"),
    ],
)
def test_bad_server_options_say_what_is_wrong(text: str, url: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_server_option(text, url=url)


def test_a_server_has_a_command_or_a_url_not_both() -> None:
    with pytest.raises(ValueError, match="either a command"):
        ServerSpec("x")
    with pytest.raises(ValueError, match="either a command"):
        ServerSpec("x", command=("a",), url="http://h/mcp")


def test_tool_def_is_read_only_and_gives_the_provider_contract_shape() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string", "examples": ["a"]}}, "required": ["q"]}
    tool = ToolDef("search", "Find things.", schema, "docs")
    schema["properties"]["q"]["type"] = "integer"  # the caller's dict changing later changes nothing
    plain = tool.as_dict()
    assert plain == {
        "name": "search",
        "description": "Find things.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string", "examples": ["a"]}}, "required": ["q"]},
    }
    json.dumps(plain)  # plain JSON values
    with pytest.raises(TypeError):
        tool.parameters["type"] = "array"  # type: ignore[index]
    assert hash(tool) == hash(ToolDef("search", "Find things.", plain["parameters"], "docs"))


def test_tool_result_size_is_utf8_bytes_and_every_failure_is_an_error() -> None:
    ok = ToolResult("s", "t", "héllo", "ok", 0.01)
    assert ok.size == 6 and not ok.is_error
    for status in ("error", "timeout", "unavailable"):
        assert ToolResult("s", "t", "", status, 0.0).is_error  # type: ignore[arg-type]
