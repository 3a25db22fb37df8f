"""The command-line client: `darkroom generate | edit | vary | batch`, for any OpenAI-compatible Image API.

It talks to a server through the official `openai` SDK (so retries, timeouts and errors are the SDK's),
never through Darkroom's own code, and reads no `DARKROOM_*` setting: pointed at OpenAI, a gateway or a
Darkroom, it behaves the same. `register` adds the subcommands to `darkroom`'s parser (cli.py); each
sets `args.client`, the function that runs it without the server's settings.

    options.py    flags -> an SDK client and a request body
    request.py    one request through the SDK: headers, streams, url answers
    files.py      names, no overwriting, sidecars
    progress.py   the stderr display (a redrawn line on a terminal, plain lines elsewhere)
    commands.py   generate, edit, vary
    batch.py      batch: concurrency, resume, manifest
    errors.py     the one-line messages and exit statuses
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .errors import EXIT_CODES_HELP, INTERRUPTED, ClientError
from .options import add_connection_flags, add_image_flags, add_output_flags, count, positive

_ENV = "environment: OPENAI_BASE_URL (default http://127.0.0.1:8000/v1), OPENAI_API_KEY. See docs/cli.md."


def register(commands: argparse._SubParsersAction) -> None:
    """Add generate, edit, vary and batch to `darkroom`'s subcommands."""
    def parser(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        kind, commands._parser_class = commands._parser_class, _IntermixedParser  # see _IntermixedParser
        try:
            return commands.add_parser(name, help=summary, description=description,
                                       epilog=f"{_ENV}\n{EXIT_CODES_HELP}.",
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
        finally:
            commands._parser_class = kind

    gen = parser("generate", "generate images from a prompt (client)",
                 "Generate images and save each with a JSON sidecar beside it: <out>/<prompt slug>-<seed>-<i>.<ext> "
                 "and <image>.json.\nExisting files are never overwritten (the next free name, <name>_2, is used) "
                 "unless --overwrite.\nStreams partial images for gpt-image models; prints the paths saved.")
    gen.add_argument("prompt", nargs="?", metavar="PROMPT", help="what to draw (optional with --from)")
    gen.add_argument("--from", dest="from_sidecar", metavar="SIDECAR",
                     help="send the request a sidecar recorded again (with its seed: the same images); flags given "
                          "with it override its fields")
    add_image_flags(gen)
    add_output_flags(gen)
    add_connection_flags(gen)
    gen.set_defaults(client=_runner("generate"))

    edit = parser("edit", "edit images with a prompt (client)",
                  "Edit one or more images (the first is edited; more are references) and save the results like "
                  "generate.")
    edit.add_argument("images", nargs="+", metavar="IMAGE", help="the input images (PNG, JPEG or WebP)")
    edit.add_argument("prompt", metavar="PROMPT", help="what to change")
    edit.add_argument("--mask", metavar="FILE", help="a PNG with alpha: transparent pixels mark what to repaint")
    add_image_flags(edit, edit=True)
    add_output_flags(edit)
    add_connection_flags(edit)
    edit.set_defaults(client=_runner("edit"))

    vary = parser("vary", "make variations of an image (client; dall-e-2 family)",
                  "Make variations of one square PNG (the dall-e-2 family's endpoint) and save them like "
                  "generate: <out>/<image name>-variation-<seed>-<i>.png.")
    vary.add_argument("image", help="a square PNG")
    group = vary.add_argument_group("request")
    group.add_argument("-m", "--model", help="model name (default dall-e-2)")
    group.add_argument("-n", type=positive, metavar="N", help="number of variations")
    group.add_argument("--size", metavar="WxH", help="256x256, 512x512 or 1024x1024")
    group.add_argument("--user", metavar="ID", help="an end-user id, passed on to the server")
    group.add_argument("--seed", type=count, metavar="S", help="Darkroom's seed")
    add_output_flags(vary)
    add_connection_flags(vary)
    vary.set_defaults(client=_runner("vary"))

    run = parser("batch", "generate one request per line of a JSONL file (client)",
                 "Generate one request per line of PROMPTS.jsonl ({\"prompt\": ..., \"id\": ..., any generation "
                 "field}), K at a time,\nwith an overall progress bar. <out>/manifest.jsonl records each line "
                 "(prompt, seed, model, usage, files);\nrunning again skips the lines done and retries the rest. "
                 "Flags such as -m and --size are defaults for lines\nthat do not set them. Lines are not "
                 "streamed.")
    run.add_argument("prompts", metavar="PROMPTS.jsonl", help="one JSON object per line")
    run.add_argument("--concurrency", type=positive, default=2, metavar="K",
                     help="requests in flight at once (default 2)")
    add_image_flags(run, stream=False)
    add_output_flags(run)
    add_connection_flags(run)
    run.set_defaults(client=_runner("batch"))


class _IntermixedParser(argparse.ArgumentParser):
    """Positionals may sit on both sides of a flag: `darkroom edit a.png b.png --mask m.png "a prompt"`.

    Plain argparse takes the positionals from the first run of them only (images=a.png, prompt=b.png)
    and calls the rest unrecognised; `parse_known_intermixed_args` collects them all first."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's signature
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _runner(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from . import batch, commands

        command = {"generate": commands.generate, "edit": commands.edit, "vary": commands.vary,
                   "batch": batch.batch}[name]
        try:
            return command(args)
        except ClientError as exc:
            print(f"darkroom: {exc.message}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("darkroom: interrupted", file=sys.stderr)
            return INTERRUPTED

    return run
