"""`GET /docs`: the OpenAPI document (`openapi.py`) as one readable HTML page.

Self-contained on purpose: no script, no stylesheet or font from a CDN, nothing fetched from
elsewhere, so it works offline. Each operation shows its summary, parameters, body fields (with
types, limits and Darkroom's extensions marked) and status codes; the raw document follows.
"""

from __future__ import annotations

import html
import json
from typing import Any

STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-top:1px solid #ddd;padding-top:1rem;font-family:monospace}.m{color:#fff;background:#456;padding:0 .4em;
border-radius:3px}.x{background:#fde68a;padding:0 .3em;border-radius:3px;font-size:.8em}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}code,pre{font-size:.9em}
pre{background:#f6f6f6;padding:1rem;overflow:auto}"""
DARKROOM = '<span class="x">Darkroom</span>'


def render_docs(document: dict[str, Any]) -> str:
    info = document["info"]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(info['title'])} API</title>",
             f"<style>{STYLE}</style></head><body><h1>{_e(info['title'])} {_e(info['version'])}</h1>",
             f"<p>{_e(info['description'])} The machine-readable document: <a href=/openapi.json>/openapi.json</a>."
             "</p>"]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            parts.append(_operation(document, path, method, operation))
    parts.append(f"<h2>openapi.json</h2><pre>{_e(json.dumps(document, indent=2))}</pre></body></html>")
    return "".join(parts)


def _operation(document: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> str:
    mark = f" {DARKROOM}" if operation.get("x-darkroom") else ""
    out = [f"<h2><span class=m>{method.upper()}</span> {_e(path)}{mark}</h2><p>{_e(operation['summary'])}</p>"]
    if operation.get("security") == []:
        out.append("<p>No API key needed.</p>")
    params = operation.get("parameters", [])
    if params:
        out.append("<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>schema</th><th></th></tr>")
        out += [f"<tr><td><code>{_e(p['name'])}</code></td><td>{p['in']}</td><td><code>{_e(_type(p['schema']))}"
                f"</code></td><td>{_e(p.get('description', ''))}</td></tr>" for p in params]
        out.append("</table>")
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        out.append(f"<h3>Body: <code>{_e(media_type)}</code></h3>{_fields(_resolve(document, content['schema']))}")
    out.append("<h3>Responses</h3><table>")
    for status, response in operation["responses"].items():
        response = _resolve(document, response)
        kinds = ", ".join(response.get("content", {}))
        out.append(f"<tr><td>{status}</td><td>{_e(response['description'])}</td><td><code>{_e(kinds)}</code></td></tr>")
    out.append("</table>")
    return "".join(out)


def _fields(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    rows = ["<table><tr><th>field</th><th>schema</th><th></th></tr>"]
    for name, prop in schema.get("properties", {}).items():
        flags = (" <b>required</b>" if name in required else "") + (f" {DARKROOM}" if prop.get("x-darkroom") else "")
        rows.append(f"<tr><td><code>{_e(name)}</code>{flags}</td><td><code>{_e(_type(prop))}</code></td>"
                    f"<td>{_e(prop.get('description', ''))}</td></tr>")
    closed = "<p>Any other field is refused (400 <code>unknown_parameter</code>).</p>" \
        if schema.get("additionalProperties") is False else ""
    return "".join(rows) + "</table>" + closed


def _type(schema: dict[str, Any]) -> str:
    """A short reading of a schema: `integer 1..10`, `"png" | "jpeg"`, `file`."""
    if "anyOf" in schema:
        return " | ".join(_type(option) for option in schema["anyOf"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if schema.get("format") == "binary":
        return "file"
    kind = schema.get("type", "any")
    kind = " | ".join(kind) if isinstance(kind, list) else kind
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    low, high = schema.get("minimum"), schema.get("maximum")
    return f"{kind} {low}..{high}" if low is not None or high is not None else kind


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _e(text: object) -> str:
    return html.escape(str(text))
