"""A fake Hugging Face Hub on 127.0.0.1, for `darkroom pull` and `darkroom serve --model ORG/NAME` tests.

It serves folders (tests/tiny_pipelines.py builds them) under the URL shapes that huggingface_hub 2.x uses
for `snapshot_download`, `hf_hub_download`, `model_info` and diffusers' `from_pretrained`, read from its
source (hf_api.py, file_download.py, _snapshot_download.py, utils/_http.py):

    GET  /api/models/ORG/NAME[/revision/REV]        model_info: id, sha, private, gated, siblings
                                                    (rfilename; with ?blobs=true also size, blobId, lfs)
    GET  /api/models/ORG/NAME/tree/REV[/PATH]       list_repo_tree: [{type, path, oid, size, lfs}]
                                                    (?recursive=true: every file and folder)
    HEAD|GET /ORG/NAME/resolve/REV/PATH             small files: 200 with X-Repo-Commit, ETag (the git blob
                                                    id), Content-Length. Weights (LFS files): 302 to the "CDN"
                                                    with X-Linked-Etag (sha256), X-Linked-Size, X-Repo-Commit
    HEAD|GET CDN/blobs/SHA256                       the CDN: a second server (another origin, so
                                                    huggingface_hub drops the Authorization header), with Range

Errors are answered as the real hub answers them (headers X-Error-Code, X-Error-Message), which is how
huggingface_hub tells them apart: an unknown repo, or a private one without a token that may read it,
is 401 RepoNotFound to an anonymous caller and 404 RepoNotFound to one with a token; a gated repo's
files are 401 GatedRepo without the token; a token the hub does not know is 401 "Invalid credentials
in Authorization header" (the one token it knows, `token`, may read every repo); an unknown revision 404 RevisionNotFound; an unknown file 404
EntryNotFound. Anything else is a 404 and stays in `requests`, so a test sees requests it did not expect.

Point huggingface_hub at it only through HF_ENDPOINT (`env()`); nothing patches huggingface_hub.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

TOKEN = "hf_fake_token_for_tests"
LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack", ".h5", ".gguf")


@dataclass(frozen=True)
class HubFile:
    path: str  # in the repo, "/"-separated
    local: Path
    size: int
    git_oid: str  # sha1 of the git blob: the ETag of a regular file
    sha256: str | None  # for LFS files: their content's sha256 (the X-Linked-Etag), else None


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    sha: str  # the commit
    private: bool = False
    gated: bool = False


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with the query
    status: int
    authorized: bool  # carried the fake hub's token
    server: str  # "hub" or "cdn"


@dataclass
class FakeHub:
    """`with FakeHub() as hub: hub.add("fake-org/tiny-sd", folder)`; `hub.url` is HF_ENDPOINT."""

    token: str = TOKEN
    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, HubFile] = {}
        self._servers = [self._server("hub"), self._server("cdn")]
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def add(self, repo_id: str, folder: Path, *, private: bool = False, gated: bool = False) -> HubRepo:
        """Serve every file under `folder` as the repo `repo_id` (one commit, named after the files' hashes)."""
        files = {}
        for local in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            files[local.relative_to(folder).as_posix()] = _hub_file(local, local.relative_to(folder).as_posix())
        commit = hashlib.sha1("".join(f"{p} {f.git_oid}\n" for p, f in files.items()).encode()).hexdigest()
        repo = HubRepo(repo_id, files, commit, private=private, gated=gated)
        with self._lock:
            self.repos[repo_id] = repo
            self._blobs.update({f.sha256: f for f in files.values() if f.sha256})
        return repo

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that point huggingface_hub (in a subprocess) at this hub."""
        return {"HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1", **extra}

    def seen(self, method: str | None = None, contains: str = "", server: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path
                    and (server is None or r.server == server)]

    def downloads(self) -> list[Seen]:
        """File bodies sent (GET on /resolve/ or the CDN)."""
        return [r for r in self.seen("GET") if "/resolve/" in r.path or r.server == "cdn"]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- serving ---------------------------------------------------------------------------------

    def _server(self, role: str) -> ThreadingHTTPServer:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub, Handler.role = hub, role
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)


def _hub_file(local: Path, path: str) -> HubFile:
    data = local.read_bytes()
    git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest() if path.endswith(LFS_SUFFIXES) else None
    return HubFile(path, local, len(data), git_oid, sha256)


_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
_INFO = re.compile(rf"^/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?$")
_TREE = re.compile(rf"^/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")
_RESOLVE = re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_BLOB = re.compile(r"^/blobs/(?P<sha>[0-9a-f]{64})$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as huggingface_hub's pooled client expects
    hub: FakeHub
    role: str

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle(body=True)

    def do_HEAD(self) -> None:
        self._handle(body=False)

    # ---- routing ---------------------------------------------------------------------------------

    def _handle(self, body: bool) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        self._status = 0
        try:
            if self.role == "cdn":
                self._cdn(path, body)
            elif auth and auth != f"Bearer {self.hub.token}":
                self._error(401, None, "Invalid credentials in Authorization header")
            elif match := _INFO.match(path):
                self._info(match["repo"], match["rev"], query, authorized=bool(auth))
            elif match := _TREE.match(path):
                self._tree(match["repo"], match["rev"], match["path"], query, authorized=bool(auth))
            elif match := _RESOLVE.match(path):
                self._resolve(match["repo"], match["rev"], match["path"], body, authorized=bool(auth))
            else:
                self._error(404, None, "Not Found (the fake hub does not serve this route)")
        finally:
            self.hub._record(Seen(self.command, self.path, self._status, auth == f"Bearer {self.hub.token}",
                                  self.role))

    def _repo(self, repo_id: str, authorized: bool, files: bool) -> HubRepo | None:
        """The repo if this caller may see it (and, with `files`, read its files); else answers the error."""
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and not authorized):
            self._error(404 if self.headers.get("Authorization") else 401, "RepoNotFound",
                        "Repository not found" if self.headers.get("Authorization") else "Invalid username or password.")
            return None
        if repo.gated and files and not authorized:
            self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it and "
                                          "be authenticated to access it. Please log in.", commit=repo.sha)
            return None
        return repo

    def _revision(self, repo: HubRepo, rev: str | None) -> bool:
        if rev in (None, "main", repo.sha):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return False

    # ---- the API ---------------------------------------------------------------------------------

    def _info(self, repo_id: str, rev: str | None, query: dict, authorized: bool) -> None:
        repo = self._repo(repo_id, authorized, files=False)
        if repo is None or not self._revision(repo, rev):
            return
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for file in repo.files.values():
            sibling: dict = {"rfilename": file.path}
            if blobs:
                sibling.update(size=file.size, blobId=file.git_oid)
                if file.sha256:
                    sibling["lfs"] = {"size": file.size, "sha256": file.sha256, "pointerSize": 134}
            siblings.append(sibling)
        org = repo_id.split("/")[0]
        self._json({"_id": repo.sha[:24], "id": repo_id, "modelId": repo_id, "author": org, "sha": repo.sha,
                    "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z",
                    "private": repo.private, "gated": "manual" if repo.gated else False, "disabled": False,
                    "library_name": "diffusers", "pipeline_tag": "text-to-image",
                    "tags": ["diffusers", "text-to-image"], "siblings": siblings})

    def _tree(self, repo_id: str, rev: str, under: str | None, query: dict, authorized: bool) -> None:
        repo = self._repo(repo_id, authorized, files=False)
        if repo is None or not self._revision(repo, rev):
            return
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = f"{under.strip('/')}/" if under else ""
        entries, folders = [], set()
        for file in repo.files.values():
            if not file.path.startswith(prefix):
                continue
            rest = file.path[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                folders.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                entry = {"type": "file", "oid": file.git_oid, "size": file.size, "path": file.path}
                if file.sha256:
                    entry["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": 134}
                entries.append(entry)
        shown = sorted(f for f in folders if recursive or "/" not in f[len(prefix):])
        folder_entries = [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
                          for f in shown]
        self._json(folder_entries + entries)

    def _resolve(self, repo_id: str, rev: str, path: str, body: bool, authorized: bool) -> None:
        repo = self._repo(repo_id, authorized, files=True)
        if repo is None or not self._revision(repo, rev):
            return
        file = repo.files.get(path)
        if file is None:
            self._error(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"", commit=repo.sha)
            return
        if file.sha256:  # an LFS file: the hub redirects to its storage, with the metadata on the redirect
            self._status = 302
            self.send_response(302)
            self.send_header("Location", f"{self.hub.cdn_url}/blobs/{file.sha256}?name={quote(path)}")
            self.send_header("X-Repo-Commit", repo.sha)
            self.send_header("X-Linked-Etag", f'"{file.sha256}"')
            self.send_header("X-Linked-Size", str(file.size))
            self.send_header("ETag", f'"{file.git_oid}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._file(file, body, {"X-Repo-Commit": repo.sha, "ETag": f'"{file.git_oid}"'})

    def _cdn(self, path: str, body: bool) -> None:
        match = _BLOB.match(path)
        file = self.hub._blobs.get(match["sha"]) if match else None
        if file is None:
            self._error(404, None, "NoSuchKey")
            return
        self._file(file, body, {"ETag": f'"{file.sha256}"'})

    # ---- answers ---------------------------------------------------------------------------------

    def _file(self, file: HubFile, body: bool, headers: dict[str, str]) -> None:
        data = file.local.read_bytes()
        start, status = 0, 200
        if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
            start, status = min(int(match[1]), len(data)), 206
        part = data[start:]
        self._status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if body:
            self.wfile.write(part)

    def _json(self, payload: object) -> None:
        data = json.dumps(payload).encode()
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        data = json.dumps({"error": message}).encode()
        self._status = status
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
