# Sourced by scripts/run and scripts/test: install a lock file's pinned dependencies and the
# project into .venv, unless that lock file and pyproject.toml are what was installed last
# (a stamp in .venv holds their checksum), so a start with nothing changed spends no time in pip.
install_locked() {
    local lock="$1"
    local stamp=".venv/.installed-${lock%.txt}"
    local want
    want="$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "dependencies unchanged since the last install ($lock): not installing" >&2
        return 0
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$lock"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
}
