"""Ray stays optional: the single-process server never imports it, and its absence names the extra."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)


def test_the_single_process_server_does_not_import_ray():
    done = _python("import sys\nfrom darkroom.config import load_settings\nfrom darkroom.api.app import create_app\n"
                   "import darkroom.cli, darkroom.shutdown, darkroom.service\n"
                   "assert 'ray' not in sys.modules, 'ray was imported'\nprint('ok')")
    assert done.stdout.strip() == "ok", done.stderr


def test_without_ray_the_error_names_the_extra():
    done = _python("import sys\nsys.modules['ray'] = None\nfrom darkroom.scaleout import require_ray\n"
                   "try:\n    require_ray()\nexcept ImportError as exc:\n    print(exc)")
    assert "pip install 'darkroom[ray]'" in done.stdout, done.stderr
