# Sourced by scripts/serve and scripts/test: make .venv and install Darkroom into it (with EXTRAS if set).
# The install runs only when needed: after a successful one, .venv/.darkroom-install records a hash of
# pyproject.toml and this script, and the extras installed. While the hash is unchanged and EXTRAS asks for
# no extra beyond those, nothing is installed (the install is editable: source changes need none), so no
# package index is needed to start. A missing .venv, an edited pyproject.toml or a new extra reinstalls.
# torch is installed first and its pin repeated: an unpinned or ranged torch pulls a multi-GB CUDA build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_PIN="torch==2.13.0"
stamp_file=.venv/.darkroom-install
hash="$(cat pyproject.toml scripts/_venv.sh | sha256sum | cut -d' ' -f1)"
read -r old_hash old_extras 2>/dev/null < "$stamp_file" || old_hash="" old_extras=""
[ "$old_hash" = "$hash" ] || old_extras=""
needed=""
for extra in $(tr , " " <<< "${EXTRAS:-}"); do
  case ",$old_extras," in *",$extra,"*) ;; *) needed="$needed $extra" ;; esac
done
if [ -x .venv/bin/python ] && [ -n "$old_hash" ] && [ "$old_hash" = "$hash" ] && [ -z "$needed" ]; then
  return 0
fi
rm -f "$stamp_file"
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
extras="$old_extras${old_extras:+,}${EXTRAS:-}"
printf '%s %s\n' "$hash" "${extras:-,}" > "$stamp_file"
