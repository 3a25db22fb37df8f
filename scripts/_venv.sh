# Sourced by scripts/serve and scripts/test: make .venv and install Darkroom into it (with EXTRAS if set).
# torch is installed first and its pin repeated: an unpinned or ranged torch pulls a multi-GB CUDA build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_PIN="torch==2.13.0"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
case ",${EXTRAS:-}," in
  # pymatting compiles its numba code on its first import (~45 s) and caches it in the venv: pay that
  # here, once per install, rather than in the server's first minute.
  *,diffusers,*) "${pip[@]}" "$TORCH_PIN"
                 "${pip[@]}" -e ".[$EXTRAS]" "$TORCH_PIN"
                 .venv/bin/python -c "import pymatting" ;;
  *)             "${pip[@]}" -e ".${EXTRAS:+[$EXTRAS]}" ;;
esac
# onnxruntime-gpu and onnxruntime install the same `onnxruntime` module: keep only the GPU build's files.
case ",${EXTRAS:-}," in
  *,gpu,*) if .venv/bin/python -m pip show --quiet onnxruntime >/dev/null 2>&1; then
             .venv/bin/python -m pip uninstall --quiet -y onnxruntime
             "${pip[@]}" --force-reinstall --no-deps onnxruntime-gpu
           fi ;;
esac
